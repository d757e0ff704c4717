/**
 * Checklist 27: PING {1:h''} one interval after binding and every interval after; a relay that
 * sends nothing for the idle timeout is declared dead and the worker reconnects (beyond upstream).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, type DisconnectInfo, type Worker } from '../../worker/index.ts'
import { ErrorCode } from '../../src/errors.ts'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { echoHandler, FAST, nextEvent, teardown } from './harness.ts'

describe('keepalive (checklist 27)', () => {
  it('sends PING {1:h\'\'} one interval after binding, then every interval', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-ping', handler: echoHandler, ...FAST, pingIntervalMs: 60 })
    workers.push(worker)
    await worker.start()
    const conn = await relay.nextBound()
    const pings = [await conn.waitFrame(MsgType.Ping), await conn.waitFrame(MsgType.Ping), await conn.waitFrame(MsgType.Ping)] as const
    for (const p of pings) assert.equal(encodeFrame(p.type, p.payload).toString('hex'), relayFrame('Worker keepalive PING').toString('hex'))
    const boundAt = conn.boundAt ?? 0
    const gaps = [pings[0].at - boundAt, pings[1].at - pings[0].at, pings[2].at - pings[1].at]
    assert.ok(gaps.every(g => g >= 50), `PING gaps ${gaps.join(', ')} ms`)
    assert.equal(relay.connections.length, 1)
  })

  it('declares a silent relay dead after idleTimeoutMs and reconnects', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ pong: 'none' })
    teardown(t, workers, [relay])
    const disconnects: DisconnectInfo[] = []
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-idle', handler: echoHandler, ...FAST, pingIntervalMs: 40, idleTimeoutMs: 150,
      onDisconnect: info => { disconnects.push(info) }
    })
    workers.push(worker)
    await worker.start()
    const first = await relay.nextBound()
    const [info] = await nextEvent(worker, 'disconnect')
    const silentFor = performance.now() - (first.boundAt ?? 0)
    assert.equal(info.reason, 'idle')
    assert.equal(info.error?.code, ErrorCode.IdleTimeout)
    assert.ok(silentFor >= 145, `declared dead after ${silentFor} ms`)
    await first.closed
    await relay.nextBound()
    await worker.whenBound()
    assert.deepEqual(disconnects.map(d => d.reason), ['idle'])
  })

  it('stays bound while the relay answers PINGs (Python-style empty PONG)', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ pong: 'python' })
    teardown(t, workers, [relay])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-alive', handler: echoHandler, ...FAST, pingIntervalMs: 30, idleTimeoutMs: 100 })
    workers.push(worker)
    let disconnected = false
    worker.on('disconnect', () => { disconnected = true })
    await worker.start()
    const conn = await relay.nextBound()
    // Ten PINGs span three idle windows; each PONG keeps the session alive.
    for (let i = 0; i < 10; i++) await conn.waitFrame(MsgType.Ping)
    assert.equal(disconnected, false)
    assert.equal(worker.state, 'bound')
    assert.equal(relay.connections.length, 1)
  })
})
