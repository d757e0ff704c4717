/**
 * Dial-back reflector server and client on loopback (127.0.0.1 and ::1), port 0.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createRouteReply, type ExtensionRoute } from '../../src/http/route.ts'
import { createDialbackRoute, createReflectorServer, verifyReachability } from '../../nat/index.ts'
import { DIALBACK_GREETING } from '../../nat/reflector/dialback.ts'
import { handleCounts } from '../helpers/leaks.ts'

async function listen (server: Server | HttpServer, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => { resolve() })
  })
  const a = server.address()
  return a !== null && typeof a === 'object' ? a.port : 0
}

async function closeServer (server: Server | HttpServer): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
}

/** A TCP server that accepts and never answers; close() destroys what it accepted. */
function silentServer (): { server: Server, close: () => Promise<void> } {
  const sockets = new Set<Socket>()
  const server = createServer(s => {
    sockets.add(s)
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  return {
    server,
    close: async () => {
      for (const s of sockets) s.destroy()
      await closeServer(server)
    }
  }
}

/** A port nobody listens on (bound, then released). */
async function freePort (host: string): Promise<number> {
  const s = createServer()
  const port = await listen(s, host)
  await closeServer(s)
  return port
}

async function post (url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown>, headers: Record<string, string | string[] | undefined> }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const NONCE = '0123456789abcdef0123456789abcdef'

describe('reflector server (POST /v1/nat/dialback)', () => {
  it('dials the requester back on the asked port and writes the nonce', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    const { url } = await reflector.listen()
    const got: string[] = []
    const target = createServer(s => {
      s.setEncoding('latin1')
      s.on('data', (d: string) => got.push(d))
      s.on('error', () => undefined)
    })
    const port = await listen(target, '127.0.0.1')
    try {
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port, nonce: NONCE, protocol: 'tcp' }))
      assert.equal(res.status, 200)
      assert.equal(res.json.reachable, true)
      assert.equal(res.json.observed_address, '127.0.0.1')
      assert.equal(res.json.port, port)
      assert.equal(typeof res.json.latency_ms, 'number')
      assert.equal(res.json.dialed_from, '127.0.0.1')
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(got.join(''), `${DIALBACK_GREETING} ${NONCE}\n`)
    } finally {
      await closeServer(target)
      await reflector.close()
    }
  })

  it('dials back from a configured dialFrom address and says so', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, dialFrom: ['127.0.0.9', '::1'] })
    const { url } = await reflector.listen()
    const target = createServer(s => { s.on('error', () => undefined); s.resume() })
    const port = await listen(target, '127.0.0.1')
    try {
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port, nonce: NONCE }))
      assert.equal(res.json.reachable, true)
      assert.equal(res.json.dialed_from, '127.0.0.9')
      const r = await verifyReachability({ reflector: url, port: 0, listenHost: '127.0.0.1', timeoutMs: 2000 })
      assert.equal(r.reachable, true)
      assert.equal(r.dialed_from, '127.0.0.9')
      assert.equal(r.reflector_address, '127.0.0.1')
    } finally {
      await closeServer(target)
      await reflector.close()
    }
    assert.throws(() => createReflectorServer({ dialFrom: ['not-an-ip'] }), (err: unknown) => (err as { code?: string }).code === 'ERR_INVALID_ADDRESS')
  })

  it('answers reachable:false with the error when nothing listens', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    const { url } = await reflector.listen()
    try {
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: await freePort('127.0.0.1'), nonce: NONCE }))
      assert.equal(res.status, 200)
      assert.equal(res.json.reachable, false)
      assert.equal(res.json.error, 'ECONNREFUSED')
      assert.equal(res.json.latency_ms, null)
    } finally {
      await reflector.close()
    }
  })

  it('validates requests: bad JSON, port, nonce, protocol, method, path, body size', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, rateLimit: 100 })
    const { url } = await reflector.listen()
    const ep = `${url}/v1/nat/dialback`
    try {
      for (const body of ['nope', '[]', '{"port":0,"nonce":"' + NONCE + '"}', '{"port":70000,"nonce":"' + NONCE + '"}', '{"port":1.5,"nonce":"' + NONCE + '"}',
        '{"port":80,"nonce":"short"}', '{"port":80,"nonce":"' + 'z'.repeat(32) + '"}', '{"port":80,"nonce":"' + NONCE + '","protocol":"udp"}']) {
        const res = await post(ep, body)
        assert.equal(res.status, 400, body)
        assert.deepEqual(Object.keys(res.json.error as object), ['code', 'message'])
        assert.equal((res.json.error as { code: string }).code, 'bad_request')
      }
      const big = await post(ep, JSON.stringify({ port: 80, nonce: NONCE, pad: 'x'.repeat(2000) }))
      assert.equal(big.status, 413)
      const notFound = await post(`${url}/v1/other`, '{}')
      assert.equal(notFound.status, 404)
    } finally {
      await reflector.close()
    }
    // The route is an extension route (the relay's extra-route hook takes it as it is).
    const route: ExtensionRoute & { close: () => void } = createDialbackRoute()
    const srv = createHttpServer((req, res) => { void route.handler(req, createRouteReply(res), { signal: AbortSignal.timeout(5000) }) })
    const port = await listen(srv, '127.0.0.1')
    try {
      const res = await new Promise<number>((resolve, reject) => {
        request(`http://127.0.0.1:${port}/v1/nat/dialback`, { method: 'GET', agent: false }, r => { r.resume(); resolve(r.statusCode ?? 0) }).on('error', reject).end()
      })
      assert.equal(res, 405)
    } finally {
      route.close()
      await closeServer(srv)
    }
  })

  it('rate-limits per source address with 429 and Retry-After', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, rateLimit: 2, rateWindowMs: 60_000 })
    const { url } = await reflector.listen()
    const port = await freePort('127.0.0.1')
    try {
      const body = JSON.stringify({ port, nonce: NONCE })
      assert.equal((await post(`${url}/v1/nat/dialback`, body)).status, 200)
      assert.equal((await post(`${url}/v1/nat/dialback`, body)).status, 200)
      const limited = await post(`${url}/v1/nat/dialback`, body)
      assert.equal(limited.status, 429)
      assert.equal((limited.json.error as { code: string }).code, 'rate_limited')
      assert.ok(Number(limited.headers['retry-after']) >= 1)
      const client = await verifyReachability({ reflector: url, port: 0, listenHost: '127.0.0.1', timeoutMs: 2000 })
      assert.equal(client.reachable, false)
      assert.match(client.error ?? '', /rate limit/)
    } finally {
      await reflector.close()
    }
  })

  it('bounds dial-backs in flight (503 when the limit is reached)', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, maxConcurrentDials: 0 })
    const { url } = await reflector.listen()
    try {
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }))
      assert.equal(res.status, 503)
      assert.equal((res.json.error as { code: string }).code, 'busy')
    } finally {
      await reflector.close()
    }
  })

  it('bounds the source table (503 when full of live entries)', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, maxTrackedSources: 0 })
    const { url } = await reflector.listen()
    try {
      assert.equal((await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }))).status, 503)
    } finally {
      await reflector.close()
    }
  })

  it('close() is idempotent', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    await reflector.listen()
    await reflector.close()
    await reflector.close()
  })
})

describe('reflector client (verifyReachability)', () => {
  it('reports reachable only when our listener received our nonce (IPv4)', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    const { url } = await reflector.listen()
    try {
      const r = await verifyReachability({ reflector: url, port: 0, listenHost: '127.0.0.1', timeoutMs: 2000 })
      assert.equal(r.reachable, true, r.error ?? '')
      assert.equal(r.nonce_verified, true)
      assert.equal(r.reflector_reachable, true)
      assert.equal(r.observed_address, '127.0.0.1')
      assert.equal(r.family, 4)
      assert.equal(r.target, `127.0.0.1:${r.port}`)
      assert.equal(r.error, null)
      assert.ok(r.port > 0)
    } finally {
      await reflector.close()
    }
  })

  it('works over IPv6 loopback', async () => {
    const reflector = createReflectorServer({ host: '::1', port: 0, allowPrivate: true })
    const { url } = await reflector.listen()
    try {
      assert.equal(url.startsWith('http://[::1]:'), true)
      const r = await verifyReachability({ reflector: `${url}/v1/nat/dialback`, port: 0, listenHost: '::1', ipv6Only: true, timeoutMs: 2000 })
      assert.equal(r.reachable, true, r.error ?? '')
      assert.equal(r.family, 6)
      assert.equal(r.target, `[::1]:${r.port}`)
    } finally {
      await reflector.close()
    }
  })

  it('a lying reflector (claims reachable without dialing) does not count', async () => {
    const liar = createHttpServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ reachable: true, observed_address: '127.0.0.1', port: 1, latency_ms: 1 }))
      })
    })
    const port = await listen(liar, '127.0.0.1')
    try {
      const r = await verifyReachability({ reflector: `http://127.0.0.1:${port}`, port: 0, listenHost: '127.0.0.1', timeoutMs: 2000, nonceGraceMs: 100 })
      assert.equal(r.reflector_reachable, true)
      assert.equal(r.nonce_verified, false)
      assert.equal(r.reachable, false)
      assert.match(r.error ?? '', /nonce never reached/)
    } finally {
      await closeServer(liar)
    }
  })

  it('a wrong nonce (another host answering on that port) does not count', async () => {
    const wrong = createHttpServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const { port } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { port: number }
        const s = connect(port, '127.0.0.1', () => {
          s.end(`${DIALBACK_GREETING} ffffffffffffffffffffffffffffffff\n`, () => {
            res.writeHead(200, { 'content-type': 'application/json' })
            res.end(JSON.stringify({ reachable: true, observed_address: '127.0.0.1', port, latency_ms: 1 }))
          })
        })
        s.on('error', () => undefined)
      })
    })
    const port = await listen(wrong, '127.0.0.1')
    try {
      const r = await verifyReachability({ reflector: `http://127.0.0.1:${port}/`, port: 0, listenHost: '127.0.0.1', timeoutMs: 2000, nonceGraceMs: 100 })
      assert.equal(r.reflector_reachable, true)
      assert.equal(r.reachable, false)
      assert.equal(r.nonce_verified, false)
    } finally {
      await closeServer(wrong)
    }
  })

  it('reports a port already in use, an unreachable reflector, and a silent one without throwing', async () => {
    const busy = createServer()
    const busyPort = await listen(busy, '127.0.0.1')
    const silent = silentServer()
    const silentPort = await listen(silent.server, '127.0.0.1')
    try {
      const inUse = await verifyReachability({ reflector: 'http://127.0.0.1:9', port: busyPort, listenHost: '127.0.0.1' })
      assert.equal(inUse.reachable, false)
      assert.match(inUse.error ?? '', /cannot listen/)
      const refused = await verifyReachability({ reflector: `http://127.0.0.1:${await freePort('127.0.0.1')}`, port: 0, listenHost: '127.0.0.1', timeoutMs: 1000 })
      assert.equal(refused.reflector_reachable, null)
      assert.match(refused.error ?? '', /ECONNREFUSED/)
      const started = Date.now()
      const timedOut = await verifyReachability({ reflector: `http://127.0.0.1:${silentPort}`, port: 0, listenHost: '127.0.0.1', timeoutMs: 200 })
      assert.equal(timedOut.reachable, false)
      assert.match(timedOut.error ?? '', /did not answer within 200 ms/)
      assert.ok(Date.now() - started < 2000)
      await assert.rejects(verifyReachability({ reflector: 'ftp://x', port: 0 }), /http\(s\) URL/)
    } finally {
      await closeServer(busy)
      await silent.close()
    }
  })

  it('rejects with ERR_ABORTED when cancelled and leaves no listener behind', async () => {
    const silent = silentServer()
    const silentPort = await listen(silent.server, '127.0.0.1')
    try {
      const servers = (): number => handleCounts().TCPServerWrap ?? 0
      const before = servers()
      const ctrl = new AbortController()
      const p = verifyReachability({ reflector: `http://127.0.0.1:${silentPort}`, port: 0, listenHost: '127.0.0.1', timeoutMs: 5000, signal: ctrl.signal })
      setTimeout(() => { ctrl.abort() }, 50)
      await assert.rejects(p, (err: unknown) => (err as { code?: string }).code === 'ERR_ABORTED')
      assert.ok(servers() <= before, "no listener left open")
    } finally {
      await silent.close()
    }
  })
})
