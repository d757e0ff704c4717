/**
 * Lifecycle (streamed) calls through a real session (checklist 21): routing by key 3, the
 * sequence rules and codes of spec §3.6, the 32-event buffer, per-event timeout, cancel.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { MsgType } from '../../src/protocol/frame.ts'
import { encodeLifecycleResponse, encodePing, parseCall, type LifecycleEvent } from '../../src/protocol/messages.ts'
import { decodeCbor } from '../../src/protocol/cbor.ts'
import { http, startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

interface StreamCall { callId: string, sessionId: string, taskId: string }

async function streamCall (p: RelayPeer): Promise<StreamCall> {
  const f = await p.nextFrame()
  assert.equal(f.type, MsgType.Call)
  const c = parseCall(f.payload)
  return { callId: c.callId, sessionId: c.sessionId ?? '', taskId: c.taskId ?? '' }
}

function event (s: StreamCall, sequence: number, status: string, lifecycleEvent: string, isFinal: boolean, over: Partial<LifecycleEvent> = {}): Buffer {
  return encodeLifecycleResponse({
    sessionId: s.sessionId,
    callId: s.callId,
    status,
    isFinal,
    result: `chunk${sequence}`,
    lifecycle: { taskId: s.taskId, sequence, event: lifecycleEvent, isFinal },
    ...over
  })
}

/** A PING/PONG round trip: every frame sent before it has been processed by the relay. */
async function sync (p: RelayPeer): Promise<void> {
  p.sendRaw(encodePing())
  assert.equal((await p.nextFrame()).type, MsgType.Pong)
}

function valueOf (r: IteratorResult<LifecycleEvent>): LifecycleEvent {
  if (r.done === true) assert.fail('the stream ended')
  return r.value
}

async function collect (it: AsyncIterable<LifecycleEvent>): Promise<LifecycleEvent[]> {
  const out: LifecycleEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

async function expectViolation (promise: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isToolkitError(err, ErrorCode.StreamViolation) && err.details?.reason === reason)
}

async function withWorker (fn: (h: RelayHarness, p: RelayPeer) => Promise<void>, options = {}): Promise<void> {
  const h = await startRelay(options)
  try {
    await fn(h, await h.worker('w1'))
  } finally {
    await h.close()
  }
}

describe('streamed calls (lifecycle RESPONSEs)', () => {
  it('21: a stream CALL carries {2,5,15,24}; events routed by key 3 arrive in order and end at the terminal', async () => {
    await withWorker(async (h, p) => {
      const stream = h.relay.forwardStream('w1', { task_id: 'task-9', session_id: 'sess-9', payload: { q: 1 } })
      const got = collect(stream)
      const f = await p.nextFrame()
      const map = decodeCbor(f.payload) as Map<number, unknown>
      assert.deepEqual([...map.keys()].sort((a, b) => a - b), [2, 5, 15, 24])
      assert.equal(map.get(2), 'sess-9')
      assert.equal(map.get(24), 'task-9')
      assert.deepEqual(JSON.parse(Buffer.from(map.get(5) as Uint8Array).toString('utf8')), { task_id: 'task-9', session_id: 'sess-9', payload: { q: 1 } })
      const s = { callId: map.get(15) as string, sessionId: 'sess-9', taskId: 'task-9' }
      p.sendRaw(event(s, 0, 'partial', 'partial', false))
      p.sendRaw(event(s, 1, 'partial', 'partial', false))
      p.sendRaw(event(s, 2, 'success', 'completed', true, { tokensUsed: 3 }))
      const events = await got
      assert.deepEqual(events.map(e => [e.lifecycle.sequence, e.status, e.result]), [[0, 'partial', 'chunk0'], [1, 'partial', 'chunk1'], [2, 'success', 'chunk2']])
      assert.equal(events[2]?.tokensUsed, 3)
    })
  })

  it('session_id and task_id default to the call id', async () => {
    await withWorker(async (h, p) => {
      const got = collect(h.relay.forwardStream('w1', { payload: 1 }))
      const s = await streamCall(p)
      assert.equal(s.sessionId, s.callId)
      assert.equal(s.taskId, s.callId)
      p.sendRaw(event(s, 0, 'error', 'failed', true, { error: { code: 'backend_error', message: 'x' } }))
      const [e] = await got
      assert.deepEqual(e?.error, { code: 'backend_error', message: 'x' })
    })
  })

  const violations: Array<[string, (s: StreamCall) => Buffer[]]> = [
    ['session_id_drift', s => [event({ ...s, sessionId: 'other' }, 0, 'partial', 'partial', false)]],
    ['task_id_drift', s => [event({ ...s, taskId: 'other' }, 0, 'partial', 'partial', false)]],
    ['sequence_drift', s => [event(s, 1, 'partial', 'partial', false)]],
    ['finality_disagreement', s => [event(s, 0, 'success', 'completed', true, { isFinal: false })]],
    ['status_event_disagreement', s => [event(s, 0, 'success', 'partial', true)]],
    ['terminal_flag_mismatch', s => [event(s, 0, 'partial', 'partial', true)]],
    ['response_after_terminal', s => [event(s, 0, 'success', 'completed', true), event(s, 1, 'partial', 'partial', false)]]
  ]
  for (const [reason, frames] of violations) {
    it(`21: a sequence violation fails the stream with ${reason}`, async () => {
      await withWorker(async (h, p) => {
        const it = h.relay.forwardStream('w1', { task_id: 't', session_id: 's' })[Symbol.asyncIterator]()
        const first = it.next()
        first.catch(() => undefined) // asserted below, after the sync
        const s = await streamCall(p)
        for (const f of frames(s)) p.sendRaw(f)
        await sync(p)
        if (reason === 'response_after_terminal') {
          assert.equal(valueOf(await first).status, 'success')
          await expectViolation(it.next(), reason)
        } else {
          await expectViolation(first, reason)
        }
      })
    })
  }

  it('21: 32 unread events are held; the 33rd unread one fails the stream with relay_backpressure_exceeded', async () => {
    await withWorker(async (h, p) => {
      const ok = h.relay.forwardStream('w1', { task_id: 't' })[Symbol.asyncIterator]()
      const pending = ok.next()
      const s = await streamCall(p)
      for (let i = 0; i < 33; i++) p.sendRaw(event(s, i, 'partial', 'partial', false))
      await sync(p)
      // The waiting read took event 0 as it arrived; 32 more are buffered unread: no overflow yet.
      assert.equal(valueOf(await pending).lifecycle.sequence, 0)
      p.sendRaw(event(s, 33, 'partial', 'partial', false))
      await sync(p)
      await expectViolation(ok.next(), 'relay_backpressure_exceeded')
    })
  })

  it('a buffered RESPONSE to a stream call fails it with missing_terminal_response', async () => {
    await withWorker(async (h, p) => {
      const got = collect(h.relay.forwardStream('w1', { task_id: 't' }))
      const s = await streamCall(p)
      p.respond(s.callId, { result: 'not a stream' })
      await expectViolation(got, 'missing_terminal_response')
    })
  })

  it('each wait for the next event has the forward timeout', async () => {
    await withWorker(async (h, p) => {
      const got = collect(h.relay.forwardStream('w1', { task_id: 't' }, { timeoutMs: 100 }))
      const s = await streamCall(p)
      p.sendRaw(event(s, 0, 'partial', 'partial', false))
      await assert.rejects(got, (err: unknown) => isToolkitError(err, ErrorCode.ForwardTimeout))
    })
  })

  it('breaking out of the loop removes the stream\'s pending state', async () => {
    await withWorker(async (h, p) => {
      const stream = h.relay.forwardStream('w1', { task_id: 't' })
      const consumed = (async () => {
        for await (const e of stream) {
          assert.equal(e.lifecycle.sequence, 0)
          break
        }
      })()
      const s = await streamCall(p)
      p.sendRaw(event(s, 0, 'partial', 'partial', false))
      await consumed
      // The only in-flight slot is free again: a buffered call goes through.
      p.serve(() => ({ result: 'ok' }))
      const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'b' } })
      assert.equal(ans.status, 200)
    }, { maxCallsInFlightPerSession: 1 })
  })

  it('the session ending mid-stream fails the stream at once', async () => {
    await withWorker(async (h, p) => {
      const got = collect(h.relay.forwardStream('w1', { task_id: 't' }))
      const s = await streamCall(p)
      p.sendRaw(event(s, 0, 'partial', 'partial', false))
      await sync(p)
      p.destroy()
      await assert.rejects(got, (err: unknown) => isToolkitError(err, ErrorCode.SessionClosed))
    })
  })

  it('a lifecycle event for a buffered call fails that call at once (HTTP 500)', async () => {
    await withWorker(async (h, p) => {
      const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'b' } })
      const f = await p.nextFrame()
      const c = parseCall(f.payload)
      p.sendRaw(event({ callId: c.callId, sessionId: 's', taskId: 't' }, 0, 'partial', 'partial', false))
      const ans = await answer
      assert.equal(ans.status, 500)
      assert.equal(ans.json<{ status: string }>().status, 'error')
    })
  })

  it('forwardStream to an unknown worker fails with ERR_SESSION_NOT_FOUND', async () => {
    await withWorker(async (h) => {
      await assert.rejects(collect(h.relay.forwardStream('nobody', {})), (err: unknown) => isToolkitError(err, ErrorCode.SessionNotFound))
    })
  })
})
