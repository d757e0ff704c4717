/**
 * The HTTP front (spec §4, checklist 31, 32, 37, 38): relay-for task and health, /v1/relay,
 * the relay's health and metrics, CORS, and every error answer.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { MsgType } from '../../src/protocol/frame.ts'
import { parseCall } from '../../src/protocol/messages.ts'
import { http, startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

type ErrorBody = { error: { code: string, message: string } }

async function withEcho (fn: (h: RelayHarness, p: RelayPeer) => Promise<void>, options = {}): Promise<void> {
  const h = await startRelay(options)
  try {
    const p = await h.worker('w1', { models: ['m1'] })
    await fn(h, p)
  } finally {
    await h.close()
  }
}

function assertError (body: unknown, code: string): void {
  const b = body as ErrorBody
  assert.equal(b.error.code, code)
  assert.equal(typeof b.error.message, 'string')
}

describe('POST /v1/relay-for/{wid}/v1/task', () => {
  it('31: answers 200 {"task_id","status":"completed",…worker result keys}', async () => {
    await withEcho(async (h, p) => {
      p.serve(task => ({ result: { text: 'hi', got: task }, tokens: 3 }))
      const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't-1', intent: 'urn:x', payload: { q: 1 } } })
      assert.equal(ans.status, 200)
      assert.equal(ans.headers['content-type'], 'application/json')
      assert.deepEqual(ans.json(), { task_id: 't-1', status: 'completed', result: { text: 'hi', got: { task_id: 't-1', intent: 'urn:x', payload: { q: 1 } } }, tokens: 3 })
    })
  })

  it('worker keys override, task_id defaults to "", and an empty result object still answers', async () => {
    await withEcho(async (h, p) => {
      p.serve((task) => {
        const t = task as { mode: string }
        if (t.mode === 'encrypted') return { task_id: 'w-tid', status: 'encrypted', iicp_conf_resp: { c: 'x' } }
        if (t.mode === 'empty') return Buffer.from(' { } ')
        return { result: 1 }
      })
      const enc = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't', mode: 'encrypted' } })
      assert.deepEqual(enc.json(), { task_id: 'w-tid', status: 'encrypted', iicp_conf_resp: { c: 'x' } })
      const empty = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { mode: 'empty' } })
      assert.deepEqual(empty.json(), { task_id: '', status: 'completed' })
      const numeric = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 7 } })
      assert.deepEqual(numeric.json(), { task_id: '', status: 'completed', result: 1 })
    })
  })

  it('31: an unknown or dead worker gets 404 IICP-E030', async () => {
    await withEcho(async (h) => {
      const ans = await http(h.httpPort, '/v1/relay-for/nobody/v1/task', { body: { task_id: 't' } })
      assert.equal(ans.status, 404)
      assertError(ans.json(), 'IICP-E030')
    })
  })

  it('31: a worker that does not answer within the forward timeout gets 502 IICP-E031', async () => {
    await withEcho(async (h, p) => {
      const ans = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' } })
      assert.equal((await p.nextFrame()).type, MsgType.Call)
      const a = await ans
      assert.equal(a.status, 502)
      assertError(a.json(), 'IICP-E031')
    }, { forwardTimeoutMs: 100 })
  })

  it('a worker failure is HTTP 500 in the direct node\'s error shape, not a 200', async () => {
    await withEcho(async (h, p) => {
      p.serve((task) => {
        switch ((task as { mode: string }).mode) {
          case 'string': return { error: 'model exploded' }
          case 'object': return { error: { message: 'nested message', code: 'X' } }
          case 'array': return [1, 2]
          case 'invalid': return Buffer.from('{not json')
          default: return { error: 'ignored', result: 'both present: a result' }
        }
      })
      const cases: Array<[string, number, unknown]> = [
        ['string', 500, { task_id: 't', status: 'error', error: { message: 'model exploded' } }],
        // The worker's error object is kept whole (issue 7 defect 8).
        ['object', 500, { task_id: 't', status: 'error', error: { message: 'nested message', code: 'X' } }],
        ['array', 500, { task_id: 't', status: 'error', error: { message: 'worker returned a result that is not a JSON object' } }],
        ['invalid', 500, { task_id: 't', status: 'error', error: { message: 'worker returned a result that is not valid JSON' } }],
        ['both', 200, { task_id: 't', status: 'completed', error: 'ignored', result: 'both present: a result' }]
      ]
      for (const [mode, status, body] of cases) {
        const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't', mode } })
        assert.equal(ans.status, status, mode)
        assert.deepEqual(ans.json(), body, mode)
      }
    })
  })

  it('invalid JSON or a non-object body is 400 IICP-E001 and nothing is forwarded', async () => {
    await withEcho(async (h, p) => {
      for (const body of ['{nope', '[1,2]', '"text"', '']) {
        const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { method: 'POST', body })
        assert.equal(ans.status, 400, body)
        assertError(ans.json(), 'IICP-E001')
      }
      await assert.rejects(p.nextFrame(100))
    })
  })

  it('a body over maxRequestBodyBytes is 413 IICP-E001, declared or streamed', async () => {
    await withEcho(async (h) => {
      const big = Buffer.from(JSON.stringify({ task_id: 't', pad: 'x'.repeat(2000) }))
      const declared = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: big })
      assert.equal(declared.status, 413)
      assertError(declared.json(), 'IICP-E001')
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: h.httpPort, path: '/v1/relay-for/w1/v1/task', method: 'POST', agent: false }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.write(big.subarray(0, 1000))
        req.write(big.subarray(1000))
        req.end()
      })
      assert.equal(chunked, 413)
    }, { maxRequestBodyBytes: 1024 })
  })

  it('calls beyond maxCallsInFlightPerSession get 429 IICP-E021 with Retry-After', async () => {
    await withEcho(async (h, p) => {
      const first = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'a' } })
      const second = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'b' } })
      const calls = [parseCall((await p.nextFrame()).payload), parseCall((await p.nextFrame()).payload)]
      const busy = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'c' } })
      assert.equal(busy.status, 429)
      assert.equal(busy.headers['retry-after'], '1')
      assertError(busy.json(), 'IICP-E021')
      for (const c of calls) p.respond(c.callId, { result: 'done' })
      assert.equal((await first).status, 200)
      assert.equal((await second).status, 200)
      p.serve(() => ({ result: 'again' }))
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'd' } })).status, 200)
    }, { maxCallsInFlightPerSession: 2 })
  })

  it('GET on the task path is 405; unknown paths are 404 JSON', async () => {
    await withEcho(async (h) => {
      const get = await http(h.httpPort, '/v1/relay-for/w1/v1/task')
      assert.equal(get.status, 405)
      assert.match(String(get.headers.allow), /POST/)
      const unknown = await http(h.httpPort, '/nope')
      assert.equal(unknown.status, 404)
      assertError(unknown.json(), 'not_found')
      assert.equal(unknown.headers['access-control-allow-origin'], '*')
    })
  })
})

describe('GET /v1/relay-for/{wid}/iicp/health', () => {
  it('32: 200 with the bound models while alive, else 404 IICP-E030', async () => {
    await withEcho(async (h, p) => {
      const ok = await http(h.httpPort, '/v1/relay-for/w1/iicp/health?probe=1')
      assert.equal(ok.status, 200)
      assert.deepEqual(ok.json(), { status: 'ok', node_id: 'w1', via_relay: true, models: ['m1'] })
      await p.end()
      const gone = await http(h.httpPort, '/v1/relay-for/w1/iicp/health')
      assert.equal(gone.status, 404)
      assertError(gone.json(), 'IICP-E030')
    })
  })
})

describe('POST /v1/relay', () => {
  it('38: forwards to a bound worker with the relay-for success shape', async () => {
    await withEcho(async (h, p) => {
      p.serve(task => ({ result: { echo: task } }))
      const ans = await http(h.httpPort, '/v1/relay', { body: { target_node_id: 'w1', task: { task_id: 't-5', payload: 1 } } })
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't-5', status: 'completed', result: { echo: { task_id: 't-5', payload: 1 } } })
    })
  })

  it('38: missing or ill-typed fields are 422 IICP-E000 JSON; an unknown target is 404 IICP-E030', async () => {
    await withEcho(async (h) => {
      for (const body of [{}, { target_node_id: 'w1' }, { task: {} }, { target_node_id: '', task: {} }, { target_node_id: 'w1', task: [1] }]) {
        const ans = await http(h.httpPort, '/v1/relay', { body })
        assert.equal(ans.status, 422, JSON.stringify(body))
        assertError(ans.json(), 'IICP-E000')
      }
      const unknown = await http(h.httpPort, '/v1/relay', { body: { target_node_id: 'ghost', task: { task_id: 'x' } } })
      assert.equal(unknown.status, 404)
      assertError(unknown.json(), 'IICP-E030')
      const invalid = await http(h.httpPort, '/v1/relay', { method: 'POST', body: '{' })
      assert.equal(invalid.status, 400)
    })
  })
})

describe('relay status, metrics and CORS', () => {
  it('GET /iicp/health reports sessions, capacity, uptime and version', async () => {
    await withEcho(async (h) => {
      const ans = await http(h.httpPort, '/iicp/health')
      assert.equal(ans.status, 200)
      const body = ans.json<{ status: string, relay: Record<string, unknown> }>()
      assert.equal(body.status, 'ok')
      assert.equal(body.relay.sessions, 1)
      assert.equal(body.relay.max_sessions, 10_000)
      assert.equal(body.relay.node_id, 'relay-x')
      assert.equal(typeof body.relay.uptime_s, 'number')
      assert.match(String(body.relay.version), /^\d+\.\d+\.\d+/)
    }, { nodeId: 'relay-x' })
  })

  it('GET /metrics serves the relay\'s own registry without worker ids or IPs', async () => {
    await withEcho(async (h, p) => {
      p.serve(() => ({ result: 1 }))
      await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' } })
      await http(h.httpPort, '/v1/relay-for/ghost/v1/task', { body: { task_id: 't' } })
      const other = await startRelay()
      await other.close()
      const text = (await http(h.httpPort, '/metrics')).body.toString('utf8')
      assert.match(text, /^iicp_relay_sessions 1$/m)
      assert.match(text, /^iicp_relay_max_sessions 10000$/m)
      assert.match(text, /^iicp_relay_binds_total\{outcome="ok"\} 1$/m)
      assert.match(text, /^iicp_relay_calls_total\{outcome="ok"\} 1$/m)
      assert.match(text, /^iicp_relay_calls_total\{outcome="no_session"\} 1$/m)
      assert.match(text, /^iicp_relay_call_duration_seconds_count 1$/m)
      assert.match(text, /^iicp_relay_bytes_total\{direction="in"\} [1-9]\d*$/m)
      assert.match(text, /^iicp_relay_bytes_total\{direction="out"\} [1-9]\d*$/m)
      assert.doesNotMatch(text, /w1|ghost|127\.0\.0\.1/)
    })
  })

  it('37: OPTIONS on any path is 204 with CORS, Max-Age 86400 and Authorization allowed; all answers carry CORS, except /metrics (issue 7 defect 7)', async () => {
    await withEcho(async (h) => {
      for (const path of ['/v1/relay-for/w1/v1/task', '/v1/relay', '/anything']) {
        const ans = await http(h.httpPort, path, { method: 'OPTIONS' })
        assert.equal(ans.status, 204)
        assert.equal(ans.headers['access-control-allow-origin'], '*')
        assert.match(String(ans.headers['access-control-allow-headers']), /Authorization/)
        assert.match(String(ans.headers['access-control-allow-methods']), /POST/)
        assert.equal(ans.headers['access-control-max-age'], '86400')
      }
      for (const path of ['/iicp/health', '/v1/relay-for/w1/iicp/health', '/v1/relay-for/x/iicp/health']) {
        assert.equal((await http(h.httpPort, path)).headers['access-control-allow-origin'], '*', path)
      }
      assert.equal((await http(h.httpPort, '/metrics')).headers['access-control-allow-origin'], undefined, 'no web page may read the metrics')
    })
  })
})
