/**
 * What a worker tells its operator (issue 12, finding 9): a refused connection has its own
 * code, an HTTP server on the other end is named as such with the usual relay-accept port,
 * and a failing backend is logged at warn (not only answered to the caller).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { ErrorCode } from '../../src/errors.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { createWorker, type BackoffInfo, type Worker } from '../../worker/index.ts'
import { createRelay } from '../../relay/index.ts'

/** The first failed attempt of a worker dialling `port`. */
async function firstFailure (t: { after: (fn: () => Promise<void>) => void }, port: number): Promise<BackoffInfo> {
  const worker: Worker = createWorker({ relayHost: '127.0.0.1', relayPort: port, workerId: 'w-hint', handler: () => ({ result: null }), reconnect: { minDelayMs: 5_000, maxDelayMs: 5_000 } })
  t.after(async () => { await worker.stop() })
  const backoff = new Promise<BackoffInfo>(resolve => { worker.once('backoff', resolve) })
  await worker.start()
  return await backoff
}

describe('worker hints', () => {
  it('a refused connection is ERR_CONNECTION_REFUSED and says what to check', async t => {
    const probe = createServer()
    const { port } = await listenTcp(probe, { host: '127.0.0.1', port: 0 })
    await new Promise<void>(resolve => { probe.close(() => { resolve() }) })
    const info = await firstFailure(t, port)
    assert.equal(info.error?.code, ErrorCode.ConnectionRefused)
    assert.match(info.error?.message ?? '', /refused: nothing listens there .*relay-accept port, usually 9485/)
  })

  it('an HTTP server on the other end is named: the relay-accept port is usually 9485', async t => {
    const server = createHttpServer((_req, res) => { res.end('not iicp') })
    const { port } = await listenTcp(server, { host: '127.0.0.1', port: 0 })
    t.after(async () => { server.closeAllConnections(); await new Promise<void>(resolve => { server.close(() => { resolve() }) }) })
    const info = await firstFailure(t, port)
    assert.equal(info.error?.code, ErrorCode.FrameMagic)
    assert.match(info.error?.message ?? '', /this is an HTTP server; the relay-accept port is usually 9485/)
  })

  it('logs a failing backend at warn with its code', async t => {
    const lines: Array<{ level: number, msg: string, code?: string }> = []
    const sink = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString('utf8')) as { level: number, msg: string }); done() } })
    const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
    const { relayPort } = await relay.listen()
    t.after(async () => { await relay.close() })
    const closed = createServer()
    const { port: deadPort } = await listenTcp(closed, { host: '127.0.0.1', port: 0 })
    await new Promise<void>(resolve => { closed.close(() => { resolve() }) })
    const worker = createWorker({ relayHost: '127.0.0.1', relayPort, workerId: 'w-backend', backendUrl: `http://127.0.0.1:${deadPort}`, logger: pino({ level: 'info' }, sink) })
    t.after(async () => { await worker.stop() })
    await worker.start()
    await worker.whenBound(AbortSignal.timeout(10_000))
    await assert.rejects(relay.forward('w-backend', { task_id: 't1', payload: {} }), { code: ErrorCode.WorkerError })
    const warn = lines.find(l => l.msg === 'task failed')
    assert.equal(warn?.level, 40)
    assert.equal(warn?.code, ErrorCode.BackendFailed)
  })
})
