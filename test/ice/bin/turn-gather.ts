/**
 * Lab helper: gathers ICE candidates through one TURN server with the given credentials (TURN
 * only) and prints `{"relay": <number of relay candidates>}`. coturn refuses an expired REST
 * username, so an expired credential yields 0.
 *
 * Usage: turn-gather.ts URL USERNAME CREDENTIAL
 */
import { nodeDataChannelBackend } from '../../../src/transport/ice/node-datachannel.ts'

const [urls = '', username = '', credential = ''] = process.argv.slice(2)
const peer = await nodeDataChannelBackend.offer({ iceServers: [{ urls, username, credential }], gatherTimeoutMs: 3_000, relayOnly: true }, AbortSignal.timeout(10_000))
const relay = peer.local.candidates.filter(c => / typ relay/.test(c)).length
peer.close()
nodeDataChannelBackend.release()
process.stdout.write(`${JSON.stringify({ relay })}\n`)
