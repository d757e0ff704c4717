// A relay in strict mode: only workers with a ticket signed by the directory's key may bind.
import { createRelay, type RelayOptions } from 'iicp-relay-toolkit/relay'

const directoryKey = process.env.DIRECTORY_KEY // the directory's Ed25519 public key, 64 hex
if (directoryKey === undefined) throw new Error('set DIRECTORY_KEY (iicp-relay keygen makes one for a test)')
const options: RelayOptions = {
  host: '127.0.0.1', httpPort: 0, relayPort: 0, nodeId: 'relay-1', requireTicket: true, ticketPublicKey: directoryKey
}
const relay = createRelay(options)
const { httpPort, relayPort } = await relay.listen()
console.log(`strict relay on http ${httpPort}, relay-accept ${relayPort}`)
await relay.close()
