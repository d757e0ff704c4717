/** Unit tests: the replay cache and the lifecycle sequence validator. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createReplayCache } from '../../relay/replay-cache.ts'
import { LifecycleSequence } from '../../relay/lifecycle-sequence.ts'
import type { LifecycleEvent } from '../../src/protocol/messages.ts'

describe('replay cache', () => {
  it('consumes a jti once until its expiry', () => {
    const c = createReplayCache()
    assert.equal(c.consume('j1', 100, 50), 'ok')
    assert.equal(c.consume('j1', 100, 60), 'replayed')
    assert.equal(c.consume('j2', 100, 60), 'ok')
  })

  it('prunes expired jtis and refuses new ones when full of live ones', () => {
    const c = createReplayCache({ maxEntries: 3, pruneAt: 2 })
    assert.equal(c.consume('a', 10, 0), 'ok')
    assert.equal(c.consume('b', 10, 0), 'ok')
    assert.equal(c.consume('c', 100, 1), 'ok')
    assert.equal(c.consume('d', 100, 2), 'full')
    assert.equal(c.consume('a', 10, 2), 'replayed', 'a live jti is never forgotten')
    assert.equal(c.consume('d', 100, 20), 'ok', 'a and b expired and were pruned')
    assert.ok(c.size <= 3)
  })
})

describe('lifecycle sequence', () => {
  const id = { sessionId: 's', callId: 'c', taskId: 't' }
  function ev (sequence: number, status: string, event: string, isFinal: boolean, over: Partial<LifecycleEvent> = {}): LifecycleEvent {
    return { sessionId: 's', callId: 'c', status, isFinal, lifecycle: { taskId: 't', sequence, event, isFinal }, ...over }
  }

  it('accepts partial…terminal with every status/event pair', () => {
    for (const [status, event] of [['success', 'completed'], ['error', 'failed'], ['error', 'cancelled'], ['timeout', 'timed_out'], ['timeout', 'expired']] as const) {
      const seq = new LifecycleSequence(id)
      assert.equal(seq.check(ev(0, 'partial', 'partial', false)), undefined)
      assert.equal(seq.check(ev(1, status, event, true)), undefined)
      assert.equal(seq.terminated, true)
      assert.equal(seq.check(ev(2, 'partial', 'partial', false)), 'response_after_terminal')
    }
  })

  it('reports each violation with its upstream code', () => {
    const cases: Array<[LifecycleEvent, string]> = [
      [ev(0, 'partial', 'partial', false, { sessionId: 'x' }), 'session_id_drift'],
      [ev(0, 'partial', 'partial', false, { callId: 'x' }), 'call_id_drift'],
      [{ ...ev(0, 'partial', 'partial', false), lifecycle: { taskId: 'x', sequence: 0, event: 'partial', isFinal: false } }, 'task_id_drift'],
      [ev(1, 'partial', 'partial', false), 'sequence_drift'],
      [ev(0, 'success', 'completed', true, { isFinal: false }), 'finality_disagreement'],
      [ev(0, 'success', 'failed', true), 'status_event_disagreement'],
      [ev(0, 'weird', 'partial', false), 'status_event_disagreement'],
      [ev(0, 'partial', 'partial', true), 'terminal_flag_mismatch'],
      [ev(0, 'error', 'failed', false), 'terminal_flag_mismatch']
    ]
    for (const [e, code] of cases) assert.equal(new LifecycleSequence(id).check(e), code)
  })
})
