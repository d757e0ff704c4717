/**
 * The worker's pure pieces: option validation, the handshake state machine, result encoding,
 * the registration payload, and the relay-for endpoint (IPv6 included, end to end over ::1).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, buildRegistrationPayload, relayForEndpoint, type Worker, type WorkerOptions } from '../../worker/index.ts'
import { createHandshake } from '../../worker/handshake.ts'
import { encodeResultBody } from '../../worker/task-runner.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../../src/limits.ts'
import { decodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { encodeAck, encodePong, encodeRelayAckError, encodeRelayAckOk } from '../../src/protocol/messages.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { echoHandler, FAST, teardown } from './harness.ts'

function frameOf (wire: Buffer): { version: number, type: number, flags: number, payload: Buffer } {
  const r = decodeFrame(wire)
  if (r.outcome !== 'accept') throw new Error('bad test frame')
  return r.frame
}

const BASE: WorkerOptions = { relayHost: '127.0.0.1', relayPort: 9485, workerId: 'w', handler: echoHandler }

describe('worker options', () => {
  const { handler: _handler, ...NO_HANDLER } = BASE
  const bad: Array<[string, Partial<WorkerOptions>, boolean?]> = [
    ['no handler or backend', {}, true],
    ['both handler and backend', { backendUrl: 'http://127.0.0.1:1' }],
    ['a bad backend URL', { backendUrl: 'ftp://x' }, true],
    ['a worker id with a slash', { workerId: 'a/b' }],
    ['an empty worker id', { workerId: '' }],
    ['a port out of range', { relayPort: 70_000 }],
    ['ticket and ticketDirectory', { ticket: 'T', ticketDirectory: { url: 'http://127.0.0.1:1', nodeToken: 't' } }],
    ['a zero concurrency', { maxConcurrent: 0 }],
    ['max delay below min delay', { reconnect: { minDelayMs: 100, maxDelayMs: 10 } }]
  ]
  for (const [what, patch, withoutHandler] of bad) {
    it(`rejects ${what} with ERR_INVALID_CONFIG`, () => {
      const options: WorkerOptions = { ...(withoutHandler === true ? NO_HANDLER : BASE), ...patch }
      assert.throws(() => createWorker(options), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    })
  }

  it('starts idle and does nothing until start()', async () => {
    const w = createWorker(BASE)
    assert.equal(w.state, 'idle')
    assert.equal(w.binding, undefined)
    await w.stop()
  })
})

describe('handshake state machine', () => {
  it('answers ACK with RELAY_BIND and RELAY_ACK ok with the HTTP port', () => {
    const h = createHandshake({ workerId: 'w1', intent: 'urn:x', models: ['m1'] })
    assert.equal(h.init.toString('hex'), relayFrame('INIT').toString('hex'))
    const step = h.onFrame(frameOf(encodeAck()))
    assert.ok(step.kind === 'send')
    assert.equal(step.frame.toString('hex'), relayFrame('RELAY_BIND `{1:"w1"').toString('hex'))
    assert.deepEqual(h.onFrame(frameOf(relayFrame('RELAY_ACK ok `{1:"ok",2:"w1"'))), { kind: 'bound', relayHttpPort: 9484 })
    assert.equal(h.phase, 'bound')
  })

  it('rejects frames out of order and refused binds with their reason', () => {
    const h1 = createHandshake({ workerId: 'w1', intent: '', models: [] })
    assert.throws(() => h1.onFrame(frameOf(encodePong())), (e: unknown) => isToolkitError(e, ErrorCode.Protocol))
    const h2 = createHandshake({ workerId: 'w1', intent: '', models: [] })
    h2.onFrame(frameOf(encodeAck()))
    assert.throws(() => h2.onFrame(frameOf(encodeAck())), (e: unknown) => isToolkitError(e, ErrorCode.Protocol))
    const h3 = createHandshake({ workerId: 'w1', intent: '', models: [] })
    h3.onFrame(frameOf(encodeAck()))
    assert.throws(() => h3.onFrame(frameOf(relayFrame('RELAY_ACK error (capacity)'))), (e: unknown) =>
      isToolkitError(e, ErrorCode.Capacity) && e.details?.reason === 'relay at session capacity')
    const h4 = createHandshake({ workerId: 'w1', intent: '', models: [] })
    h4.onFrame(frameOf(encodeAck()))
    assert.throws(() => h4.onFrame(frameOf(encodeRelayAckError('w1', 'relay bind ticket replayed'))), (e: unknown) => isToolkitError(e, ErrorCode.TicketReplayed))
    const h5 = createHandshake({ workerId: 'w1', intent: '', models: [] })
    h5.onFrame(frameOf(encodeAck()))
    h5.onFrame(frameOf(encodeRelayAckOk('w1', 1)))
    assert.throws(() => h5.onFrame(frameOf(encodeAck())), (e: unknown) => isToolkitError(e, ErrorCode.Protocol))
  })
})

describe('result encoding and registration payload', () => {
  it('replaces a result too large for one frame by an error', () => {
    const big = encodeResultBody('id', { blob: 'x'.repeat(MAX_FRAME_PAYLOAD_BYTES) })
    assert.match((JSON.parse(big.toString()) as { error: string }).error, /exceeds the .*frame limit/)
    assert.equal(encodeResultBody('id', { ok: true }), '{"ok":true}')
  })

  it('keeps a configured node_id and overrides every relay field', () => {
    const bind = { relayHost: 'relay.example', relayHttpPort: 9484, workerId: 'w', endpoint: relayForEndpoint('relay.example', 9484, 'w') }
    const out = buildRegistrationPayload({ node_id: 'node-7', endpoint: 'http://10.0.0.5:9484', relay_endpoint: null, exposure_mode: 'ipv4_cgnat_blocked' }, bind, 'tok')
    assert.equal(out.node_id, 'node-7')
    assert.equal(out.endpoint, 'http://relay.example:9484/v1/relay-for/w')
    assert.equal(out.relay_endpoint, out.endpoint)
    assert.equal(out.exposure_mode, 'relay_required')
    assert.equal(out.current_node_token, 'tok')
  })

  it('puts an IPv6 relay host in brackets', () => {
    assert.equal(relayForEndpoint('::1', 9484, 'w'), 'http://[::1]:9484/v1/relay-for/w')
  })

  it('binds to a relay on ::1 and reports the bracketed endpoint', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ host: '::1' })
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: '::1', relayPort: relay.port, workerId: 'w6', handler: echoHandler, ...FAST })
    workers.push(worker)
    await worker.start()
    const info = await worker.whenBound()
    assert.equal(info.endpoint, 'http://[::1]:9484/v1/relay-for/w6')
    const conn = await relay.nextBound()
    assert.deepEqual(await conn.call({ payload: 6 }), { result: { echo: 6 } })
    assert.equal(conn.frames[0]?.type, MsgType.Init)
  })
})
