/**
 * The task runner's answer path: a synchronous handler's RESPONSE is queued before `submit`
 * returns and its slot is free at once; a RESPONSE waiting for drain keeps its slot until the
 * wait settles, and the queued task then starts in a later microtask; a failed write frees the
 * slot and never throws. The direct-path wrapper hands a synchronous answer through as it is.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { CONNECT_INTENT } from '../../src/protocol/connect-intent.ts'
import { decodeFrame } from '../../src/protocol/frame.ts'
import { parseResponse } from '../../src/protocol/messages.ts'
import { directServerFor } from '../../worker/direct/direct-server.ts'
import { resolveWorkerOptions } from '../../worker/options.ts'
import { createTaskRunner, type TaskRunnerOptions } from '../../worker/task-runner.ts'

/** The answers a runner sent, decoded, in order. */
function answersOf (frames: Buffer[]): unknown[] {
  return frames.map(f => {
    const decoded = decodeFrame(f)
    assert.equal(decoded.outcome, 'accept')
    const response = parseResponse(decoded.outcome === 'accept' ? decoded.frame.payload : Buffer.alloc(0))
    assert.equal(response.kind, 'buffered')
    return response.kind === 'buffered' ? [response.callId, JSON.parse(response.body.toString('utf8'))] : undefined
  })
}

function runner (send: TaskRunnerOptions['send'], handler: TaskRunnerOptions['handler'], maxConcurrent = 4): ReturnType<typeof createTaskRunner> {
  return createTaskRunner({ handler, maxConcurrent, maxQueued: 4, taskTimeoutMs: 60_000, send, logger: silentLogger() })
}

describe('task runner answers', () => {
  it('queues a synchronous handler\'s answer before submit returns and frees its slot at once', () => {
    const sent: Buffer[] = []
    const tasks = runner(frame => { sent.push(frame); return undefined }, task => ({ result: { echo: (task as { n: number }).n } }))
    tasks.submit('c1', { n: 1 })
    assert.deepEqual(answersOf(sent), [['c1', { result: { echo: 1 } }]])
    assert.equal(tasks.running, 0)
  })

  it('keeps the slot of an answer waiting for drain until the wait settles, then starts the queued task in a later microtask', async () => {
    const sent: Buffer[] = []
    let drained: () => void = () => {}
    const drain = new Promise<void>(resolve => { drained = resolve })
    const tasks = runner(frame => { sent.push(frame); return sent.length === 1 ? drain : undefined }, (_task, ctx) => ({ id: ctx.callId }), 1)
    tasks.submit('c1', {})
    tasks.submit('c2', {})
    assert.equal(sent.length, 1)
    assert.equal(tasks.running, 1)
    assert.equal(tasks.queued, 1)
    drained()
    await drain
    await tasks.whenIdle()
    assert.deepEqual(answersOf(sent), [['c1', { id: 'c1' }], ['c2', { id: 'c2' }]])
    assert.equal(tasks.running, 0)
  })

  it('frees the slot of an answer whose write throws or rejects, without throwing', async () => {
    let calls = 0
    const tasks = runner(() => {
      calls++
      if (calls === 1) throw new ToolkitError(ErrorCode.ConnectionClosed, 'connection closed')
      return Promise.reject(new ToolkitError(ErrorCode.ConnectionClosed, 'connection closed while writing'))
    }, () => ({ ok: true }), 1)
    tasks.submit('c1', {})
    assert.equal(tasks.running, 0)
    tasks.submit('c2', {})
    await tasks.whenIdle()
    assert.equal(calls, 2)
    assert.equal(tasks.running, 0)
  })
})

describe('direct-path wrapper', () => {
  it('hands a task that is no connect offer to the handler in the same call, its synchronous answer as it is', async () => {
    const server = directServerFor(resolveWorkerOptions({ relayHost: '127.0.0.1', relayPort: 1, workerId: 'w-wrap', handler: () => null }), silentLogger())
    assert.ok(server !== undefined, 'direct paths are on by default')
    try {
      const handler = server.wrap(task => ({ result: { echo: (task as { payload: unknown }).payload } }))
      const signal = new AbortController().signal
      assert.deepEqual(handler({ intent: 'urn:iicp:intent:bench:echo:v1', payload: 7 }, { callId: 'c1', signal }), { result: { echo: 7 } })
      const connect = handler({ intent: CONNECT_INTENT, payload: {} }, { callId: 'c2', signal })
      assert.ok(connect instanceof Promise, 'a connect task is answered asynchronously')
      await assert.rejects(connect)
    } finally {
      server.close(new ToolkitError(ErrorCode.Aborted, 'test over'))
    }
  })
})
