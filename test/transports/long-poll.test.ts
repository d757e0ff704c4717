/**
 * The upstream HTTP long-poll worker API (spec §4.2, §3.4, checklist 33–37): every row's
 * status codes and bodies, the hold and 204, token rules, the liveness/displacement rule (with
 * a short configured window), lifecycle events, and interop with a TCP worker on one relay.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { http, startRelay, type HttpAnswer, type RelayHarness } from '../helpers/relay-harness.ts'

type ErrorBody = { error: { code: string, message: string, reason?: string } }

function assertError (ans: HttpAnswer, status: number, code: string): void {
  assert.equal(ans.status, status, ans.body.toString())
  assert.equal(ans.json<ErrorBody>().error.code, code)
  assert.equal(ans.headers['access-control-allow-origin'], '*')
}

async function bind (h: RelayHarness, body: object): Promise<HttpAnswer> {
  return await http(h.httpPort, '/v1/relay/bind', { body })
}

async function bound (h: RelayHarness, workerId: string): Promise<string> {
  const ans = await bind(h, { worker_id: workerId, models: ['m1'] })
  assert.equal(ans.status, 200, ans.body.toString())
  return ans.json<{ session_token: string }>().session_token
}

function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/** Polls `check` every 20 ms until it holds (at most `ms`). */
async function waitFor (check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = performance.now() + ms
  while (!await check()) {
    if (performance.now() > end) throw new Error('condition not reached in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function withRelay (fn: (h: RelayHarness) => Promise<void>, options = {}): Promise<void> {
  const h = await startRelay({ pollHoldMs: 300, ...options })
  try {
    await fn(h)
  } finally {
    await h.close()
  }
}

describe('POST /v1/relay/bind', () => {
  it('33: 200 with a 32-char lowercase hex token, poll_timeout_s and worker_endpoint_path', async () => {
    await withRelay(async (h) => {
      const ans = await bind(h, { worker_id: 'w', intent: 'urn:x', models: ['m1'] })
      assert.equal(ans.status, 200)
      const body = ans.json<{ session_token: string, poll_timeout_s: number, worker_endpoint_path: string }>()
      assert.match(body.session_token, /^[0-9a-f]{32}$/)
      assert.equal(body.worker_endpoint_path, '/v1/relay-for/w')
      assert.equal(typeof body.poll_timeout_s, 'number')
      const health = await http(h.httpPort, '/v1/relay-for/w/iicp/health')
      assert.deepEqual(health.json(), { status: 'ok', node_id: 'w', via_relay: true, models: ['m1'] })
    }, { pollHoldMs: undefined })
  })

  it('33: reports poll_timeout_s 25 with the default hold', async () => {
    await withRelay(async (h) => {
      const ans = await bind(h, { worker_id: 'w' })
      assert.equal(ans.json<{ poll_timeout_s: number }>().poll_timeout_s, 25)
    }, { pollHoldMs: undefined })
  })

  it('33: a second bind while the first is alive gets 409 IICP-E038; without worker_id 422 IICP-E001', async () => {
    await withRelay(async (h) => {
      await bound(h, 'w')
      assertError(await bind(h, { worker_id: 'w' }), 409, 'IICP-E038')
      assertError(await bind(h, {}), 422, 'IICP-E001')
      assertError(await bind(h, { worker_id: '' }), 422, 'IICP-E001')
      assertError(await bind(h, { worker_id: 'x', models: 'm' }), 422, 'IICP-E001')
      assertError(await http(h.httpPort, '/v1/relay/bind', { body: '{not json' }), 400, 'IICP-E001')
    })
  })

  it('§3.4: strict mode without a ticket gets 401 IICP-E040; rate limit 429 IICP-E039 with its reason; capacity 503 IICP-E039', async () => {
    await withRelay(async (h) => {
      assertError(await bind(h, { worker_id: 'w' }), 401, 'IICP-E040')
    }, { requireTicket: true })
    await withRelay(async (h) => {
      await bound(h, 'a')
      const limited = await bind(h, { worker_id: 'b' })
      assertError(limited, 429, 'IICP-E039')
      assert.equal(limited.json<ErrorBody>().error.reason, 'relay_bind_rate_limited')
    }, { bindRateLimit: 1 })
    await withRelay(async (h) => {
      await bound(h, 'a')
      assertError(await bind(h, { worker_id: 'b' }), 503, 'IICP-E039')
    }, { maxSessions: 1 })
  })
})

describe('GET /v1/relay/pull', () => {
  it('34: without a valid bearer 401 IICP-E021 (pull, result, unbind)', async () => {
    await withRelay(async (h) => {
      await bound(h, 'w')
      assertError(await http(h.httpPort, '/v1/relay/pull'), 401, 'IICP-E021')
      assertError(await http(h.httpPort, '/v1/relay/pull', { headers: bearer('0'.repeat(32)) }), 401, 'IICP-E021')
      assertError(await http(h.httpPort, '/v1/relay/pull', { headers: { authorization: 'Basic abc' } }), 401, 'IICP-E021')
      assertError(await http(h.httpPort, '/v1/relay/result', { body: { call_id: 'c', result: {} } }), 401, 'IICP-E021')
      assertError(await http(h.httpPort, '/v1/relay/unbind', { body: {} }), 401, 'IICP-E021')
    })
  })

  it('34: with nothing queued it answers 204 (no body) after the hold', async () => {
    await withRelay(async (h) => {
      const token = await bound(h, 'w')
      const started = performance.now()
      const ans = await http(h.httpPort, '/v1/relay/pull', { headers: bearer(token) })
      const took = performance.now() - started
      assert.equal(ans.status, 204)
      assert.equal(ans.body.length, 0)
      assert.equal(ans.headers['access-control-allow-origin'], '*')
      assert.ok(took >= 290, `answered after ${took} ms, before the 300 ms hold`)
    })
  })

  it('34/35: a queued call comes back at once as {"call_id","task"}; its result completes the consumer request', async () => {
    await withRelay(async (h) => {
      const token = await bound(h, 'w')
      const consumer = http(h.httpPort, '/v1/relay-for/w/v1/task', { body: { task_id: 't-1', payload: { q: 1 } } })
      const started = performance.now()
      const pulled = await http(h.httpPort, '/v1/relay/pull', { headers: bearer(token) })
      assert.ok(performance.now() - started < 1000)
      assert.equal(pulled.status, 200)
      const call = pulled.json<{ call_id: string, task: unknown }>()
      assert.match(call.call_id, /^[0-9a-f-]{36}$/)
      assert.deepEqual(call.task, { task_id: 't-1', payload: { q: 1 } })
      const done = await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: call.call_id, result: { result: { text: 'ok' } } } })
      assert.equal(done.status, 204)
      const ans = await consumer
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't-1', status: 'completed', result: { text: 'ok' } })
    })
  })

  it('35: a non-object result gets 422 IICP-E001; an unknown call_id still gets 204', async () => {
    await withRelay(async (h) => {
      const token = await bound(h, 'w')
      assertError(await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: 'c', result: 'text' } }), 422, 'IICP-E001')
      assertError(await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: '', result: {} } }), 422, 'IICP-E001')
      assertError(await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: 'c', event: { bad: 1 } } }), 422, 'IICP-E001')
      const unknown = await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: 'nope', result: {} } })
      assert.equal(unknown.status, 204)
    })
  })

  it('streams: a stream call pulls as {"stream":true,…} and lifecycle events complete it', async () => {
    await withRelay(async (h) => {
      const token = await bound(h, 'w')
      const events: string[] = []
      const consuming = (async () => {
        for await (const e of h.relay.forwardStream('w', { task_id: 'tk', session_id: 'ss' }, { timeoutMs: 5000 })) events.push(e.lifecycle.event)
      })()
      const pulled = (await http(h.httpPort, '/v1/relay/pull', { headers: bearer(token) })).json<Record<string, unknown>>()
      assert.equal(pulled.stream, true)
      assert.equal(pulled.task_id, 'tk')
      assert.equal(pulled.session_id, 'ss')
      const ev = (sequence: number, status: string, event: string, final: boolean): object => ({
        session_id: 'ss', call_id: pulled.call_id, status, is_final: final, lifecycle: { task_id: 'tk', sequence, event, is_final: final }
      })
      for (const e of [ev(0, 'partial', 'partial', false), ev(1, 'success', 'completed', true)]) {
        assert.equal((await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: pulled.call_id, event: e } })).status, 204)
      }
      await consuming
      assert.deepEqual(events, ['partial', 'completed'])
    })
  })
})

describe('POST /v1/relay/unbind and liveness', () => {
  it('unbind answers 204 and removes the session at once; the token stops working', async () => {
    await withRelay(async (h) => {
      const token = await bound(h, 'w')
      assert.equal((await http(h.httpPort, '/v1/relay/unbind', { headers: bearer(token), body: {} })).status, 204)
      await waitFor(async () => (await http(h.httpPort, '/v1/relay-for/w/iicp/health')).status === 404)
      assertError(await http(h.httpPort, '/v1/relay/pull', { headers: bearer(token) }), 401, 'IICP-E021')
      assert.equal((await bind(h, { worker_id: 'w' })).status, 200)
    })
  })

  it('36: a session not pulled within the liveness window is displaced by a new bind (200); pulling keeps it alive', async () => {
    await withRelay(async (h) => {
      const kept = await bound(h, 'kept')
      await bound(h, 'idle')
      // Pulls (100 ms hold) keep "kept" alive across more than two liveness windows.
      const end = performance.now() + 2500
      while (performance.now() < end) assert.equal((await http(h.httpPort, '/v1/relay/pull', { headers: bearer(kept) })).status, 204)
      assert.equal((await http(h.httpPort, '/v1/relay-for/kept/iicp/health')).status, 200)
      assertError(await http(h.httpPort, '/v1/relay-for/idle/iicp/health'), 404, 'IICP-E030')
      assert.equal((await bind(h, { worker_id: 'idle' })).status, 200)
    }, { idleTimeoutMs: 1000, pollHoldMs: 100 })
  })

  it('37: OPTIONS on the long-poll paths is a 204 preflight allowing Authorization', async () => {
    await withRelay(async (h) => {
      const ans = await http(h.httpPort, '/v1/relay/pull', { method: 'OPTIONS' })
      assert.equal(ans.status, 204)
      assert.match(String(ans.headers['access-control-allow-headers']), /Authorization/)
      assert.equal(ans.headers['access-control-max-age'], '86400')
      assert.equal((await http(h.httpPort, '/v1/relay/pull', { method: 'POST', body: {} })).status, 405)
    })
  })
})

describe('interop on one relay', () => {
  it('a long-poll worker and a TCP worker share one registry: both serve tasks, and each blocks the other\'s worker id', async () => {
    await withRelay(async (h) => {
      const tcp = await h.worker('tcp-w')
      tcp.serve(() => ({ result: 'from tcp' }))
      const token = await bound(h, 'poll-w')
      const viaPoll = http(h.httpPort, '/v1/relay-for/poll-w/v1/task', { body: { task_id: 'p' } })
      const call = (await http(h.httpPort, '/v1/relay/pull', { headers: bearer(token) })).json<{ call_id: string }>()
      await http(h.httpPort, '/v1/relay/result', { headers: bearer(token), body: { call_id: call.call_id, result: { result: 'from poll' } } })
      assert.deepEqual((await viaPoll).json(), { task_id: 'p', status: 'completed', result: 'from poll' })
      assert.deepEqual((await http(h.httpPort, '/v1/relay-for/tcp-w/v1/task', { body: { task_id: 't' } })).json(), { task_id: 't', status: 'completed', result: 'from tcp' })
      assertError(await bind(h, { worker_id: 'tcp-w' }), 409, 'IICP-E038')
      const peer = await h.peer()
      const ack = await peer.bind('poll-w')
      assert.equal(ack.ok, false)
      assert.equal(h.relay.sessionCount, 2)
    })
  })
})
