/**
 * Checklist 23, 24, 26: what the worker puts on the wire to bind, how it reads RELAY_ACK, and
 * the connect and handshake deadlines. Real sockets on 127.0.0.1 against the scripted relay.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, type BackoffInfo, type Worker, type WorkerOptions } from '../../worker/index.ts'
import { ErrorCode } from '../../src/errors.ts'
import { decodePayloadMap } from '../../src/protocol/cbor.ts'
import { MsgType } from '../../src/protocol/frame.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { echoHandler, FAST, nextEvent, teardown } from './harness.ts'
import { startStalledListener } from './stalled-listener.ts'

/** Starts a worker (echo handler, fast timers, `options` on top) and resolves with its first back-off and how long that took. */
async function firstBackoff (workers: Worker[], options: Omit<WorkerOptions, 'handler'>): Promise<{ worker: Worker, info: BackoffInfo, elapsed: number }> {
  const worker = createWorker({ handler: echoHandler, ...FAST, ...options })
  workers.push(worker)
  const backoff = nextEvent(worker, 'backoff')
  const started = performance.now()
  await worker.start()
  const [info] = await backoff
  return { worker, info, elapsed: performance.now() - started }
}

describe('worker handshake (checklist 23, 24)', () => {
  it('sends INIT {1:1}, then RELAY_BIND with integer keys, byte for byte as upstream', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: () => ({ ok: true, httpPort: 18080 }) })
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-echo-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['m1'], handler: echoHandler, ...FAST })
    workers.push(worker)
    await worker.start()
    const info = await worker.whenBound()
    const conn = await relay.nextBound()
    const expected = Buffer.concat([relayFrame('INIT'), relayFrame('RELAY_BIND `{1:"w-echo-1"')])
    assert.equal(conn.raw.subarray(0, expected.length).toString('hex'), expected.toString('hex'))
    assert.deepEqual(info, { relayHost: '127.0.0.1', relayHttpPort: 18080, workerId: 'w-echo-1', endpoint: 'http://127.0.0.1:18080/v1/relay-for/w-echo-1' })
    assert.equal(worker.state, 'bound')
    assert.deepEqual(worker.binding, info)
  })

  it('sends the ticket as key 4 and an empty model list as a CBOR array (vector)', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w1', intent: 'urn:x', ticket: 'T', handler: echoHandler, ...FAST })
    workers.push(worker)
    await worker.start()
    await worker.whenBound()
    const conn = await relay.nextBound()
    const bind = await conn.waitFrame(MsgType.RelayBind)
    const wire = relayFrame('RELAY_BIND with ticket')
    assert.equal(bind.payload.toString('hex'), wire.subarray(12).toString('hex'))
    assert.deepEqual([...decodePayloadMap(bind.payload).keys()], [1, 2, 3, 4])
  })

  it('reports RELAY_ACK key 4 to onBind, and 9484 when key 4 is absent', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: (_b, c) => c.index === 0 ? { ok: true, httpPort: 18123 } : { ok: true, httpPort: null } })
    teardown(t, workers, [relay])
    const binds: Array<{ relayHttpPort: number }> = []
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-port', handler: echoHandler, ...FAST,
      onBind: info => { binds.push(info) }
    })
    workers.push(worker)
    await worker.start()
    const first = await relay.nextBound()
    await worker.whenBound()
    first.sendClose()
    await relay.nextBound()
    await nextEvent(worker, 'bind')
    assert.deepEqual(binds.map(b => b.relayHttpPort), [18123, 9484])
  })

  it('on RELAY_ACK error closes, reports the reason and retries with back-off', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: (_b, c) => c.index < 2 ? { ok: false, reason: 'worker_id already bound to an alive session' } : { ok: true } })
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-rej', handler: echoHandler, ...FAST })
    workers.push(worker)
    const backoffs: Array<{ attempt: number, delayMs: number, code: string | undefined, reason: unknown }> = []
    worker.on('backoff', b => { backoffs.push({ attempt: b.attempt, delayMs: b.delayMs, code: b.error?.code, reason: b.error?.details?.reason }) })
    await worker.start()
    const first = await relay.nextConnection()
    await first.closed
    await worker.whenBound()
    assert.equal(relay.connections.length, 3)
    assert.deepEqual(backoffs.map(b => [b.attempt, b.code, b.reason]), [
      [1, ErrorCode.BindRejected, 'worker_id already bound to an alive session'],
      [2, ErrorCode.BindRejected, 'worker_id already bound to an alive session']
    ])
    // p-retry delays: min·2^(n-1)·random[1,2), capped.
    assert.ok(backoffs[0] !== undefined && backoffs[0].delayMs >= 20 && backoffs[0].delayMs <= 40, `first delay ${backoffs[0]?.delayMs}`)
    assert.ok(backoffs[1] !== undefined && backoffs[1].delayMs >= 40 && backoffs[1].delayMs <= 80, `second delay ${backoffs[1]?.delayMs}`)
    // The relay saw the attempts no sooner than the announced delays.
    const [c0, c1, c2] = relay.connections
    assert.ok(c0 !== undefined && c1 !== undefined && c2 !== undefined)
    assert.ok(c1.acceptedAt - c0.acceptedAt >= (backoffs[0]?.delayMs ?? 0) - 2)
    assert.ok(c2.acceptedAt - c1.acceptedAt >= (backoffs[1]?.delayMs ?? 0) - 2)
  })

  it('maps ticket refusals to ticket error codes', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: (_b, c) => c.index === 0 ? { ok: false, reason: 'relay bind ticket required' } : { ok: true } })
    teardown(t, workers, [relay])
    const { worker, info } = await firstBackoff(workers, { relayHost: relay.host, relayPort: relay.port, workerId: 'w-tkt' })
    assert.equal(info.error?.code, ErrorCode.TicketRequired)
    await worker.whenBound()
  })

  it('treats a first frame other than ACK as a protocol error', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ init: 'wrong' })
    teardown(t, workers, [relay])
    const { info } = await firstBackoff(workers, { relayHost: relay.host, relayPort: relay.port, workerId: 'w-proto' })
    assert.equal(info.error?.code, ErrorCode.Protocol)
    const conn = await relay.nextConnection()
    await conn.closed
  })
})

describe('worker deadlines (checklist 26)', () => {
  it('gives up on a relay that accepts but never sends ACK', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ init: 'silent' })
    teardown(t, workers, [relay])
    const { info, elapsed } = await firstBackoff(workers, { relayHost: relay.host, relayPort: relay.port, workerId: 'w-noack', handshakeTimeoutMs: 100 })
    assert.equal(info.error?.code, ErrorCode.HandshakeTimeout)
    assert.match(info.error?.message ?? '', /no ACK/)
    assert.ok(elapsed >= 95 && elapsed < 2_000, `gave up after ${elapsed} ms`)
    const conn = await relay.nextConnection()
    await conn.closed
  })

  it('gives up on a relay that never answers RELAY_BIND', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: () => 'silent' })
    teardown(t, workers, [relay])
    const { info } = await firstBackoff(workers, { relayHost: relay.host, relayPort: relay.port, workerId: 'w-noack2', handshakeTimeoutMs: 100 })
    assert.equal(info.error?.code, ErrorCode.HandshakeTimeout)
    assert.match(info.error?.message ?? '', /no RELAY_ACK/)
  })

  it('gives up on a connect that never completes (listener with a full accept queue)', async t => {
    const workers: Worker[] = []
    const stalled = await startStalledListener()
    teardown(t, workers, [stalled])
    const { info, elapsed } = await firstBackoff(workers, { relayHost: '127.0.0.1', relayPort: stalled.port, workerId: 'w-blackhole', connectTimeoutMs: 150 })
    assert.equal(info.error?.code, ErrorCode.ConnectTimeout)
    assert.ok(elapsed >= 145 && elapsed < 2_000, `gave up after ${elapsed} ms`)
  })

  it('reports a refused connection and keeps retrying', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const port = relay.port
    await relay.close()
    const worker = createWorker({ relayHost: '127.0.0.1', relayPort: port, workerId: 'w-refused', handler: echoHandler, ...FAST })
    workers.push(worker)
    teardown(t, workers, [])
    const seen: number[] = []
    worker.on('backoff', b => { seen.push(b.attempt) })
    await worker.start()
    while (seen.length < 3) await nextEvent(worker, 'backoff')
    assert.deepEqual(seen.slice(0, 3), [1, 2, 3])
    assert.equal(worker.state, 'backoff')
  })
})
