/**
 * Checklist 28, 29 and spec §6.2 item 15: CALL → handler → RESPONSE through a real socket;
 * concurrency, completion order, errors, undecodable CALLs, capacity and task deadlines.
 */
import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, CAPACITY_ERROR, type TaskHandler, type Worker, type WorkerOptions } from '../../worker/index.ts'
import { sleep } from '../../src/abort.ts'
import { encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { parseResponse } from '../../src/protocol/messages.ts'
import { startScriptedRelay, type ScriptedConnection } from '../helpers/scripted-relay.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { echoHandler, FAST, teardown } from './harness.ts'

const CALL_ID = '00000000-0000-4000-8000-000000000001'

/** A bound worker with `handler` and the relay's side of its connection. */
async function boundWorker (t: TestContext, handler: TaskHandler, extra: Partial<WorkerOptions> = {}): Promise<{ worker: Worker, conn: ScriptedConnection }> {
  const workers: Worker[] = []
  const relay = await startScriptedRelay()
  teardown(t, workers, [relay])
  const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-calls', handler, ...FAST, ...extra })
  workers.push(worker)
  await worker.start()
  const conn = await relay.nextBound()
  await worker.whenBound()
  return { worker, conn }
}

describe('CALL and RESPONSE (checklist 28, 29)', () => {
  it('answers CALL{15:id,5:json} with RESPONSE{15:id,5:bstr(JSON(result))} (vector CALL)', async t => {
    const tasks: unknown[] = []
    const { conn } = await boundWorker(t, (task, ctx) => { tasks.push([task, ctx.callId]); return { ok: true } })
    conn.send(relayFrame('CALL canonical'))
    const frame = await conn.waitFrame(MsgType.Response)
    // The exact upstream vector: {5:'{"ok":true}' as bstr, 15:<id>}.
    assert.equal(encodeFrame(MsgType.Response, frame.payload).toString('hex'), relayFrame('RESPONSE').toString('hex'))
    assert.deepEqual(tasks, [[{}, CALL_ID]])
  })

  it('accepts the Rust key order and a tstr body, and echoes the payload', async t => {
    const { conn } = await boundWorker(t, echoHandler)
    conn.send(relayFrame('Same CALL in Rust key order'))
    assert.deepEqual(await conn.waitResponse(CALL_ID), { result: { echo: null } })
    const id = '00000000-0000-4000-8000-000000000002'
    conn.send(encodeFrame(MsgType.Call, encodeCbor(new Map<number, unknown>([[15, id], [5, '{"payload":{"q":1}}']]))))
    assert.deepEqual(await conn.waitResponse(id), { result: { echo: { q: 1 } } })
  })

  it('runs CALLs concurrently and answers the faster one first', async t => {
    const { conn } = await boundWorker(t, async (task, ctx) => {
      const ms = (task as { payload: { ms: number } }).payload.ms
      await sleep(ms, ctx.signal)
      return { result: { slept: ms } }
    })
    const slow = conn.pushCall({ payload: { ms: 400 } })
    const fast = conn.pushCall({ payload: { ms: 20 } })
    const first = await conn.waitFrame(MsgType.Response)
    const second = await conn.waitFrame(MsgType.Response)
    const ids = [first, second].map(f => { const r = parseResponse(f.payload); return r.kind === 'buffered' ? r.callId : '' })
    assert.deepEqual(ids, [fast, slow])
    assert.ok(second.at - first.at >= 300, 'the slow task did not block the fast one')
  })

  it('answers a handler throw or rejection with {"error": "<message>"}', async t => {
    const { conn } = await boundWorker(t, task => {
      const mode = (task as { mode: string }).mode
      if (mode === 'throw') throw new Error('boom')
      if (mode === 'string') throw 'plain string' // eslint-disable-line @typescript-eslint/only-throw-error -- a handler may throw anything
      return Promise.reject(new Error('rejected'))
    })
    assert.deepEqual(await conn.call({ mode: 'throw' }), { error: 'boom' })
    assert.deepEqual(await conn.call({ mode: 'string' }), { error: 'plain string' })
    assert.deepEqual(await conn.call({ mode: 'reject' }), { error: 'rejected' })
  })

  it('answers a value at once, awaits any thenable, and gives every handler a live signal and its call id', async t => {
    const seen: Array<{ callId: string, aborted: boolean }> = []
    const { conn } = await boundWorker(t, (task, ctx) => {
      seen.push({ callId: ctx.callId, aborted: ctx.signal.aborted })
      if ((task as { mode: string }).mode === 'value') return { value: 1 }
      // Not a Promise: only a then method.
      return { then (resolve: (v: unknown) => void) { setTimeout(() => { resolve({ thenable: 2 }) }, 5) } }
    })
    assert.deepEqual(await conn.call({ mode: 'value' }), { value: 1 })
    assert.deepEqual(await conn.call({ mode: 'thenable' }), { thenable: 2 })
    assert.equal(seen.length, 2)
    for (const s of seen) {
      assert.match(s.callId, /^[0-9a-f-]{36}$/)
      assert.equal(s.aborted, false)
    }
  })

  for (const direct of [false, true]) {
    it(`answers a result whose then getter throws with that error, and keeps the session (direct paths ${direct ? 'on' : 'off'})`, async t => {
      // Either way the handler's value reaches the task runner as it is (the direct-path wrapper adds no async step).
      const { conn } = await boundWorker(t, task => {
        if ((task as { mode: string }).mode === 'ok') return { fine: true }
        return { get then (): never { throw new Error('then getter failed') } }
      }, { direct })
      assert.deepEqual(await conn.call({ mode: 'bad' }), { error: 'then getter failed' })
      assert.deepEqual(await conn.call({ mode: 'ok' }), { fine: true })
    })
  }

  it('encodes an undefined result as null and an unserializable one as an error', async t => {
    const { conn } = await boundWorker(t, task => (task as { mode: string }).mode === 'bigint' ? { n: 1n } : undefined)
    assert.equal(await conn.call({ mode: 'undefined' }), null)
    const answer = await conn.call({ mode: 'bigint' }) as { error: string }
    assert.match(answer.error, /not JSON-serializable/)
  })

  it('answers an undecodable CALL whose call id is recoverable (upstream Python stays silent)', async t => {
    let ran = 0
    const { conn } = await boundWorker(t, () => { ran++; return {} })
    const id = '00000000-0000-4000-8000-0000000000aa'
    conn.send(encodeFrame(MsgType.Call, encodeCbor(new Map<number, unknown>([[15, id]]))))
    const noBody = await conn.waitResponse(id) as { error: string }
    assert.match(noBody.error, /^invalid CALL: /)
    const id2 = '00000000-0000-4000-8000-0000000000bb'
    conn.send(encodeFrame(MsgType.Call, encodeCbor(new Map<number, unknown>([[15, id2], [5, Buffer.from('{not json')]]))))
    const badJson = await conn.waitResponse(id2) as { error: string }
    assert.match(badJson.error, /^task is not valid JSON/)
    // A CALL with no recoverable id cannot be answered, but the session survives it.
    conn.send(encodeFrame(MsgType.Call, Buffer.from([0xff])))
    assert.deepEqual(await conn.call({ payload: 1 }), {})
    assert.equal(ran, 1)
  })

  it('ignores PONG, relay PINGs and unknown frame types', async t => {
    const { conn, worker } = await boundWorker(t, echoHandler)
    conn.send(relayFrame('PONG from Python relay'))
    conn.send(relayFrame('Worker keepalive PING'))
    conn.send(encodeFrame(0x0d))
    assert.deepEqual(await conn.call({ payload: 'still here' }), { result: { echo: 'still here' } })
    assert.equal(worker.state, 'bound')
  })
})

describe('concurrency cap and capacity', () => {
  it('never runs more than maxConcurrent, queues up to maxQueued, and refuses the rest at once', async t => {
    let active = 0
    let peak = 0
    // Each started task hands its release function to the next `started()` waiter.
    const releases: Array<() => void> = []
    const takers: Array<(release: () => void) => void> = []
    const started = async (): Promise<() => void> => await new Promise(resolve => {
      const ready = releases.shift()
      if (ready !== undefined) resolve(ready)
      else takers.push(resolve)
    })
    const { conn } = await boundWorker(t, async () => {
      active++
      peak = Math.max(peak, active)
      await new Promise<void>(resolve => {
        const taker = takers.shift()
        if (taker !== undefined) taker(resolve)
        else releases.push(resolve)
      })
      active--
      return { done: true }
    }, { maxConcurrent: 2, maxQueued: 1 })
    const ids = [0, 1, 2, 3, 4].map(i => conn.pushCall({ i }))
    const first = await started()
    const second = await started()
    // Two run, one waits, two are refused immediately (never silence).
    assert.deepEqual(await conn.waitResponse(ids[3] ?? ''), { error: CAPACITY_ERROR })
    assert.deepEqual(await conn.waitResponse(ids[4] ?? ''), { error: CAPACITY_ERROR })
    assert.equal(active, 2)
    first()
    assert.deepEqual(await conn.waitResponse(ids[0] ?? ''), { done: true })
    const third = await started()
    second()
    third()
    assert.deepEqual(await conn.waitResponse(ids[1] ?? ''), { done: true })
    assert.deepEqual(await conn.waitResponse(ids[2] ?? ''), { done: true })
    assert.equal(peak, 2)
  })

  it('aborts a task that exceeds taskTimeoutMs and answers with an error', async t => {
    let aborted: unknown
    const { conn } = await boundWorker(t, async (_task, ctx) => {
      await new Promise<void>(resolve => { ctx.signal.addEventListener('abort', () => { aborted = ctx.signal.reason; resolve() }, { once: true }) })
      return { late: true }
    }, { taskTimeoutMs: 50 })
    const answer = await conn.call({}) as { error: string }
    assert.match(answer.error, /task timed out after 50 ms/)
    assert.ok(aborted instanceof Error)
  })

  it('answers at the deadline a handler that ignores its signal; a signal first read later is already aborted, and a spread context keeps it', async t => {
    let release!: () => void
    const late = new Promise<void>(resolve => { release = resolve })
    const checked: Array<{ aborted: boolean, reason: string }> = []
    const { conn } = await boundWorker(t, async (_task, ctx) => {
      await late
      const { signal } = { ...ctx }
      checked.push({ aborted: signal.aborted, reason: (signal.reason as Error).message })
      return { late: true }
    }, { taskTimeoutMs: 50 })
    const answer = await conn.call({}) as { error: string }
    assert.match(answer.error, /task timed out after 50 ms/)
    release()
    await t.waitFor(() => { assert.equal(checked.length, 1) })
    assert.deepEqual(checked, [{ aborted: true, reason: 'task timed out after 50 ms' }])
  })
})
