/**
 * The local HTTP backend handler against a real HTTP server on loopback: results, error
 * shapes, timeouts, garbage, unreachable backends, and one end-to-end run through the relay.
 */
import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { createBackendHandler, createWorker, type BackendHandler, type Task, type Worker } from '../../worker/index.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { startEchoBackend, type EchoBackend } from '../helpers/echo-backend.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { FAST, teardown } from './harness.ts'

async function setup (t: TestContext, timeoutMs = 2_000): Promise<{ backend: EchoBackend, handler: BackendHandler }> {
  const backend = await startEchoBackend()
  const handler = createBackendHandler({ url: new URL(backend.url), timeoutMs, maxSockets: 4 })
  t.after(async () => {
    handler.close()
    await backend.close()
  })
  return { backend, handler }
}

async function run (h: BackendHandler, task: Task, signal = new AbortController().signal): Promise<unknown> {
  return await h.handler(task, { callId: 'c-1', signal })
}

async function failure (h: BackendHandler, task: Task): Promise<Error> {
  try {
    await run(h, task)
  } catch (err) {
    assert.ok(isToolkitError(err, ErrorCode.BackendFailed), `unexpected ${String(err)}`)
    return err
  }
  assert.fail('the backend call did not fail')
}

describe('local HTTP backend', () => {
  it('POSTs the task JSON to {url}/v1/task and returns a 2xx object as is', async t => {
    const { backend, handler } = await setup(t)
    const task = { task_id: 't-1', intent: 'urn:x', payload: { q: 1 } }
    assert.deepEqual(await run(handler, task), { result: { echo: { q: 1 } } })
    assert.deepEqual(backend.tasks, [task])
  })

  it('turns {"error":{"message"}} and {"status":"error"} answers into the message', async t => {
    const { handler } = await setup(t)
    assert.equal((await failure(handler, { payload: { mode: 'fail', message: 'model overloaded' } })).message, 'model overloaded')
    assert.equal((await failure(handler, { payload: { mode: 'status-error', message: 'bad prompt' } })).message, 'bad prompt')
  })

  it('rejects garbage and non-object answers', async t => {
    const { handler } = await setup(t)
    assert.match((await failure(handler, { payload: { mode: 'garbage' } })).message, /invalid JSON \(HTTP 200\)/)
    assert.match((await failure(handler, { payload: { mode: 'array' } })).message, /non-object result/)
  })

  it('times out a slow backend', async t => {
    const { handler } = await setup(t, 100)
    const t0 = performance.now()
    const err = await failure(handler, { payload: { mode: 'slow', ms: 2_000 } })
    const took = performance.now() - t0
    assert.match(err.message, /timed out after 100 ms/)
    assert.ok(took >= 95 && took < 1_500, `took ${took} ms`)
  })

  it('stops a request when the task signal fires, with the signal\'s reason', async t => {
    const { handler } = await setup(t)
    const ac = new AbortController()
    const pending = run(handler, { payload: { mode: 'slow', ms: 2_000 } }, ac.signal)
    ac.abort(new Error('task cancelled'))
    await assert.rejects(pending, (err: unknown) => isToolkitError(err, ErrorCode.Aborted))
  })

  it('reports an unreachable backend', async t => {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    const handler = createBackendHandler({ url: new URL(`http://127.0.0.1:${port}`), timeoutMs: 2_000, maxSockets: 1 })
    t.after(() => { handler.close() })
    assert.match((await failure(handler, {})).message, /backend request failed \(ECONNREFUSED\)/)
  })
})

describe('worker with backendUrl', () => {
  it('answers CALLs through the backend, errors as {"error": message}', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const backend = await startEchoBackend()
    teardown(t, workers, [relay, backend])
    const worker = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: 'w-backend', backendUrl: `${backend.url}/`, backendTimeoutMs: 150, ...FAST })
    workers.push(worker)
    await worker.start()
    const conn = await relay.nextBound()
    const [ok, failed, slow] = await Promise.all([
      conn.call({ task_id: 't-1', payload: { hello: 'world' } }),
      conn.call({ payload: { mode: 'fail', message: 'backend exploded' } }),
      conn.call({ payload: { mode: 'slow', ms: 2_000 } })
    ])
    assert.deepEqual(ok, { result: { echo: { hello: 'world' } } })
    assert.deepEqual(failed, { error: 'backend exploded' })
    assert.deepEqual(slow, { error: 'backend request timed out after 150 ms' })
  })
})
