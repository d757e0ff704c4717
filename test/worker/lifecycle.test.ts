/**
 * Checklist 30 and stop(): CLOSE or EOF from the relay fires onDisconnect once and reconnects
 * after the back-off; stop() lets in-flight tasks answer within the grace period, aborts the
 * rest through their signal, sends CLOSE, and leaves no handle behind.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, STOPPING_ERROR, type DisconnectInfo, type Worker, type WorkerState } from '../../worker/index.ts'
import { sleep } from '../../src/abort.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { MsgType } from '../../src/protocol/frame.ts'
import { parseResponse } from '../../src/protocol/messages.ts'
import { handleCounts, settleHandles, TCP_HANDLE_KINDS } from '../helpers/leaks.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { echoHandler, FAST, nextEvent, teardown } from './harness.ts'

describe('relay-side disconnects (checklist 30)', () => {
  for (const how of ['close', 'eof'] as const) {
    it(`on ${how === 'close' ? 'CLOSE' : 'EOF'} fires onDisconnect once and reconnects after the back-off`, async t => {
      const workers: Worker[] = []
      const relay = await startScriptedRelay()
      teardown(t, workers, [relay])
      const disconnects: DisconnectInfo[] = []
      const worker = createWorker({
        relayHost: relay.host, relayPort: relay.port, workerId: `w-${how}`, handler: echoHandler, ...FAST,
        onDisconnect: info => { disconnects.push(info) }
      })
      workers.push(worker)
      const states: WorkerState[] = []
      worker.on('state', s => { states.push(s) })
      await worker.start()
      const first = await relay.nextBound()
      await worker.whenBound()
      const backoff = nextEvent(worker, 'backoff')
      if (how === 'close') first.sendClose()
      else first.end()
      const [wait] = await backoff
      await first.closed
      const second = await relay.nextBound()
      await worker.whenBound()
      assert.deepEqual(disconnects, [{ reason: how }])
      assert.equal(wait.attempt, 0)
      assert.ok(wait.delayMs >= 20 && wait.delayMs <= 40, `delay ${wait.delayMs}`)
      assert.ok(second.acceptedAt - (first.boundAt ?? 0) >= wait.delayMs - 2)
      assert.deepEqual(states, ['connecting', 'bound', 'backoff', 'connecting', 'bound'])
      assert.deepEqual(await second.call({ payload: 2 }), { result: { echo: 2 } })
    })
  }

  it('aborts the tasks of a lost session through their signal', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    let reason: unknown
    let started: () => void = () => {}
    const running = new Promise<void>(resolve => { started = resolve })
    const aborted = new Promise<void>(resolve => {
      const worker = createWorker({
        relayHost: relay.host, relayPort: relay.port, workerId: 'w-lost', ...FAST,
        handler: async (_task, ctx) => {
          started()
          await new Promise<void>(r => { ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason; r(); resolve() }, { once: true }) })
          return {}
        }
      })
      workers.push(worker)
    })
    await workers[0]?.start()
    const conn = await relay.nextBound()
    conn.pushCall({})
    await running
    conn.destroy()
    await aborted
    assert.ok(isToolkitError(reason, ErrorCode.SessionClosed))
  })
})

describe('stop()', () => {
  it('lets in-flight tasks answer within the grace period, then sends CLOSE', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    let started: () => void = () => {}
    const running = new Promise<void>(resolve => { started = resolve })
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-grace', ...FAST, stopGraceMs: 2_000,
      handler: async task => {
        started()
        await sleep((task as { ms: number }).ms)
        return { finished: true }
      }
    })
    workers.push(worker)
    await worker.start()
    const conn = await relay.nextBound()
    await worker.whenBound()
    const id = conn.pushCall({ ms: 100 })
    await running
    const disconnect = nextEvent(worker, 'disconnect')
    await worker.stop()
    const [info] = await disconnect
    assert.equal(info.reason, 'stopped')
    const response = conn.frames.findIndex(f => f.type === MsgType.Response)
    const close = conn.frames.findIndex(f => f.type === MsgType.Close)
    assert.ok(response >= 0 && close > response, 'RESPONSE goes out before CLOSE')
    assert.deepEqual(await conn.waitResponse(id), { finished: true })
    await conn.closed
    assert.equal(worker.state, 'stopped')
  })

  it('aborts tasks that outlive the grace period and answers them with an error', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    let sawAbort = false
    let started: () => void = () => {}
    const running = new Promise<void>(resolve => { started = resolve })
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-abort', ...FAST, stopGraceMs: 50,
      // Ignores nothing: resolves only when aborted; the worker answers without waiting for it.
      handler: async (_task, ctx) => {
        started()
        ctx.signal.addEventListener('abort', () => { sawAbort = true }, { once: true })
        return await new Promise(() => {})
      }
    })
    workers.push(worker)
    await worker.start()
    const conn = await relay.nextBound()
    const id = conn.pushCall({})
    await running
    const t0 = performance.now()
    await worker.stop()
    const took = performance.now() - t0
    assert.ok(sawAbort)
    assert.ok(took >= 45 && took < 1_500, `stop took ${took} ms`)
    const answer = await conn.waitResponse(id) as { error: string }
    assert.match(answer.error, new RegExp(`^${STOPPING_ERROR}`))
    const close = await conn.waitFrame(MsgType.Close)
    const resp = conn.frames.find(f => f.type === MsgType.Response && parseResponse(f.payload).kind === 'buffered')
    assert.ok(resp !== undefined && resp.at <= close.at)
  })

  it('refuses CALLs that arrive while stopping', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    let release: () => void = () => {}
    let started: () => void = () => {}
    const running = new Promise<void>(resolve => { started = resolve })
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-refuse', ...FAST, stopGraceMs: 2_000,
      handler: async () => { started(); await new Promise<void>(resolve => { release = resolve }); return { ok: 1 } }
    })
    workers.push(worker)
    await worker.start()
    const conn = await relay.nextBound()
    const first = conn.pushCall({})
    await running
    const stopping = worker.stop()
    assert.equal(worker.state, 'stopping')
    const late = conn.pushCall({})
    assert.deepEqual(await conn.waitResponse(late), { error: STOPPING_ERROR })
    release()
    await stopping
    assert.deepEqual(await conn.waitResponse(first), { ok: 1 })
  })

  it('is idempotent, ends start() and whenBound(), and is async-disposable (what `await using` calls)', async t => {
    const relay = await startScriptedRelay({ init: 'silent' })
    t.after(async () => { await relay.close() })
    let pending: Promise<unknown>
    const disposable = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-dispose', handler: echoHandler, ...FAST })
    try {
      await disposable.start()
      await disposable.start()
      pending = disposable.whenBound().then(() => 'bound', (err: unknown) => err)
      await relay.nextConnection()
    } finally {
      await disposable[Symbol.asyncDispose]()
    }
    const err = await pending
    assert.ok(isToolkitError(err, ErrorCode.Aborted))
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-twice', handler: echoHandler, ...FAST })
    await worker.stop()
    const p1 = worker.stop()
    const p2 = worker.stop()
    await Promise.all([p1, p2])
    assert.equal(worker.state, 'stopped')
    await assert.rejects(worker.start(), (e: unknown) => isToolkitError(e, ErrorCode.Aborted))
    await assert.rejects(worker.whenBound(), (e: unknown) => isToolkitError(e, ErrorCode.Aborted))
  })

  it('stops when its signal fires', async t => {
    const relay = await startScriptedRelay()
    t.after(async () => { await relay.close() })
    const ac = new AbortController()
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-signal', handler: echoHandler, ...FAST, signal: ac.signal })
    await worker.start()
    const conn = await relay.nextBound()
    await worker.whenBound()
    const stopped = new Promise<void>(resolve => { worker.on('state', s => { if (s === 'stopped') resolve() }) })
    ac.abort()
    await stopped
    await conn.waitFrame(MsgType.Close)
  })

  it('leaves no socket, server or timer behind', async () => {
    // Let handles closed by earlier tests finish closing.
    await settleHandles()
    const before = handleCounts(TCP_HANDLE_KINDS)
    const relay = await startScriptedRelay({ pong: 'rust' })
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-leak', handler: echoHandler, ...FAST, pingIntervalMs: 20, idleTimeoutMs: 200 })
    await worker.start()
    const conn = await relay.nextBound()
    await conn.waitFrame(MsgType.Ping)
    assert.deepEqual(await conn.call({ payload: 'x' }), { result: { echo: 'x' } })
    conn.sendClose()
    await relay.nextBound()
    await worker.stop()
    await relay.close()
    await settleHandles()
    assert.deepEqual(handleCounts(TCP_HANDLE_KINDS), before)
  })
})
