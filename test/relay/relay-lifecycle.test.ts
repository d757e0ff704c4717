/**
 * The Relay object: listen/close (CLOSE to every session, pending calls failed at once,
 * idempotent, async dispose, no leaked handles), the library forward() API, extra routes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRelay } from '../../relay/index.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { MsgType } from '../../src/protocol/frame.ts'
import { handleCounts, settleHandles, TCP_HANDLE_KINDS } from '../helpers/leaks.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'
import { RelayPeer } from '../helpers/relay-peer.ts'

const CLOSE_HEX = '494943500107000000000000'

/** Active handles by kind, after letting libuv finish closing handles (close callbacks run a loop turn later). */
async function handles (): Promise<Record<string, number>> {
  await settleHandles(3)
  return handleCounts()
}

describe('relay listen and close', () => {
  it('close() sends CLOSE to every session, then both listeners stop', async () => {
    const h = await startRelay()
    const a = await h.worker('a')
    const b = await h.worker('b')
    const started = performance.now()
    await h.relay.close()
    assert.ok(performance.now() - started < 2000)
    for (const p of [a, b]) {
      await p.expectClosed(1000)
      assert.ok(p.received.toString('hex').endsWith(CLOSE_HEX))
    }
    await assert.rejects(RelayPeer.connect(h.relayPort))
    await assert.rejects(http(h.httpPort, '/iicp/health'))
    await h.close()
  })

  it('close() fails every pending call at once: the HTTP caller gets 502 IICP-E031', async () => {
    const h = await startRelay({ forwardTimeoutMs: 30_000 })
    try {
      const a = await h.worker('w1')
      const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' } })
      assert.equal((await a.nextFrame()).type, MsgType.Call)
      const closing = h.relay.close()
      const ans = await answer
      assert.equal(ans.status, 502)
      assert.equal(ans.json<{ error: { code: string } }>().error.code, 'IICP-E031')
      await closing
    } finally {
      await h.close()
    }
  })

  it('a worker that ignores CLOSE is destroyed after the grace period', async () => {
    const h = await startRelay()
    const a = await h.worker('w1')
    a.socket.on('end', () => { /* keep our side open */ })
    const started = performance.now()
    await h.relay.close()
    assert.ok(performance.now() - started < 3000)
    await a.expectClosed(1000)
    await h.close()
  })

  it('close() is idempotent, works before listen(), and is async-disposable (what `await using` calls)', async () => {
    const never = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
    await never.close()
    await never.close()
    await assert.rejects(never.listen(), (err: unknown) => isToolkitError(err))
    const h = await startRelay()
    await Promise.all([h.relay.close(), h.relay.close()])
    await h.relay.close()
    let port: number
    const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
    try {
      port = (await relay.listen()).httpPort
      assert.deepEqual(await relay.listen(), await relay.listen())
    } finally {
      await relay[Symbol.asyncDispose]()
    }
    await assert.rejects(http(port, '/iicp/health'))
  })

  it('leaves no sockets, servers or timers behind', async () => {
    const before = await handles()
    const h = await startRelay({ forwardTimeoutMs: 30_000 })
    const a = await h.worker('w1')
    const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' } })
    await a.nextFrame()
    await h.close()
    await answer
    await a.expectClosed()
    const after = await handles()
    for (const kind of TCP_HANDLE_KINDS) assert.equal(after[kind] ?? 0, before[kind] ?? 0, kind)
  })

  it('a listen failure (port in use) rejects and releases the other listener', async () => {
    const h = await startRelay()
    try {
      const before = await handles()
      const clash = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: h.relayPort })
      await assert.rejects(clash.listen(), /EADDRINUSE/)
      await clash.close()
      assert.equal((await handles()).TCPServerWrap ?? 0, before.TCPServerWrap ?? 0)
    } finally {
      await h.close()
    }
  })

  it('rejects invalid options with ERR_INVALID_CONFIG', () => {
    for (const bad of [{ httpPort: 70000 }, { ticketPublicKey: 'abc' }, { maxSessions: 0 }, { bindRateLimit: -1 }, { nodeId: '' }, { advertisedHttpPort: 0 }]) {
      assert.throws(() => createRelay(bad), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig), JSON.stringify(bad))
    }
  })
})

describe('relay.forward() for library users', () => {
  it('resolves with the worker result and rejects with typed errors', async () => {
    const h = await startRelay({ forwardTimeoutMs: 5000 })
    try {
      const a = await h.worker('w1')
      a.serve(task => (task as { fail?: boolean }).fail === true ? { error: 'nope' } : { result: task })
      const r = await h.relay.forward('w1', { task_id: 't', x: 1 })
      assert.deepEqual(r.result, { result: { task_id: 't', x: 1 } })
      assert.deepEqual(JSON.parse(r.raw.toString('utf8')), r.result)
      await assert.rejects(h.relay.forward('w1', { fail: true }), (err: unknown) => isToolkitError(err, ErrorCode.WorkerError) && err.details?.message === 'nope')
      await assert.rejects(h.relay.forward('ghost', {}), (err: unknown) => isToolkitError(err, ErrorCode.SessionNotFound))
    } finally {
      await h.close()
    }
  })

  it('honours its AbortSignal and timeout, and frees the in-flight slot', async () => {
    const h = await startRelay({ maxCallsInFlightPerSession: 1 })
    try {
      const a = await h.worker('w1')
      const ac = new AbortController()
      const aborted = h.relay.forward('w1', { task_id: 'slow' }, { signal: ac.signal })
      await a.nextFrame()
      ac.abort()
      await assert.rejects(aborted, (err: unknown) => isToolkitError(err, ErrorCode.Aborted))
      const timed = h.relay.forward('w1', { task_id: 'slow' }, { timeoutMs: 50 })
      await a.nextFrame()
      await assert.rejects(timed, (err: unknown) => isToolkitError(err, ErrorCode.ForwardTimeout))
      a.serve(() => ({ result: 'ok' }))
      assert.deepEqual((await h.relay.forward('w1', {})).result, { result: 'ok' })
    } finally {
      await h.close()
    }
  })

  it('an HTTP caller that goes away cancels its pending call', async () => {
    const h = await startRelay({ maxCallsInFlightPerSession: 1 })
    try {
      const a = await h.worker('w1')
      await assert.rejects(http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' }, timeoutMs: 200 }))
      await a.nextFrame()
      a.serve(() => ({ result: 'ok' }))
      // The abandoned call's slot is free again.
      for (let i = 0; i < 50; i++) {
        const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'u' } })
        if (ans.status === 200) return
        assert.equal(ans.status, 429)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      assert.fail('the slot was never freed')
    } finally {
      await h.close()
    }
  })
})

describe('extra routes', () => {
  it('are mounted by exact method and path, with CORS, and a throwing handler answers 500 JSON', async () => {
    const h = await startRelay({
      extraRoutes: [
        {
          method: 'GET',
          path: '/v1/nat/echo',
          handler: async (req, reply) => {
            reply.json(200, `hello ${req.url ?? ''}`)
            await Promise.resolve()
          }
        },
        { method: 'POST', path: '/v1/nat/boom', handler: async () => { await Promise.resolve(); throw new Error('kaboom') } }
      ]
    })
    try {
      const ok = await http(h.httpPort, '/v1/nat/echo?x=1')
      assert.equal(ok.status, 200)
      assert.equal(ok.json<string>(), 'hello /v1/nat/echo?x=1')
      assert.equal(ok.headers['access-control-allow-origin'], '*')
      const boom = await http(h.httpPort, '/v1/nat/boom', { body: {} })
      assert.equal(boom.status, 500)
      assert.equal(boom.json<{ error: { code: string } }>().error.code, 'internal_error')
      assert.equal((await http(h.httpPort, '/v1/nat/echo', { body: {} })).status, 405)
    } finally {
      await h.close()
    }
  })
})
