/**
 * The dial-back reflector as an attack surface (issue 7 defect 7): behind a local reverse proxy
 * every requester is 127.0.0.1, so without the non-global rule the reflector would scan and
 * write into the relay host's own loopback services. Also: forwarding headers count only from a
 * trusted proxy, and the route carries no CORS headers. Loopback only, port 0.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { createReflectorServer } from '../../nat/index.ts'
import { listenTcp } from '../../src/transport/listen.ts'

const NONCE = '0123456789abcdef0123456789abcdef'

async function post (url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown>, headers: Record<string, string | string[] | undefined> }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A "local service" (think redis on 6379) that records every connection and the bytes written to it. */
async function localService (): Promise<{ port: number, seen: string[], close: () => Promise<void> }> {
  const seen: string[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer(s => {
    sockets.add(s)
    seen.push('connect')
    s.on('data', d => { seen.push(d.toString('latin1')) })
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  const { port } = await listenTcp(server, { port: 0, host: '127.0.0.1' })
  return {
    port,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

describe('reflector security (issue 7 defect 7)', () => {
  it('never dials loopback by default: a request from 127.0.0.1 (a local proxy) gets 403 not_global and the local service sees nothing', async () => {
    const svc = await localService()
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0 })
    try {
      const { url } = await reflector.listen()
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: svc.port, nonce: NONCE }))
      assert.equal(res.status, 403)
      const err = res.json.error as { code: string, message: string }
      assert.equal(err.code, 'not_global')
      assert.match(err.message, /127\.0\.0\.1 is loopback, 127\.0\.0\.0\/8/)
      assert.deepEqual(svc.seen, [], 'the reflector must not touch the local service')
    } finally {
      await reflector.close()
      await svc.close()
    }
  })

  it('allowPrivate (--reflector-allow-private, labs) dials loopback', async () => {
    const svc = await localService()
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    try {
      const { url } = await reflector.listen()
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: svc.port, nonce: NONCE }))
      assert.equal(res.status, 200)
      assert.equal(res.json.reachable, true)
    } finally {
      await reflector.close()
      await svc.close()
    }
  })

  it('X-Forwarded-For / Forwarded count only from a trusted proxy; the client address they name must be global', async () => {
    const untrusted = createReflectorServer({ host: '127.0.0.1', port: 0 })
    const trusting = createReflectorServer({ host: '127.0.0.1', port: 0, trustProxy: ['127.0.0.0/8'], dialTimeoutMs: 300 })
    try {
      const a = await untrusted.listen()
      // Not trusted: the header is ignored, the peer (loopback) is refused.
      const spoof = await post(`${a.url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }), { 'x-forwarded-for': '11.0.0.9' })
      assert.equal(spoof.status, 403)
      const b = await trusting.listen()
      // Trusted proxy naming a private client: refused, naming the range.
      const priv = await post(`${b.url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }), { 'x-forwarded-for': '8.8.8.8, 192.168.1.5' })
      assert.equal(priv.status, 403)
      assert.match((priv.json.error as { message: string }).message, /192\.168\.1\.5 is private, 192\.168\.0\.0\/16/)
      // Trusted proxy, Forwarded header with a documentation-range client (also not global).
      const doc = await post(`${b.url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }), { forwarded: 'for="[2001:db8::1]:4711"' })
      assert.equal(doc.status, 403)
      assert.match((doc.json.error as { message: string }).message, /2001:db8::1 is documentation, 2001:db8::\/32/)
      // Garbage in a trusted header is a 400, not a dial.
      const junk = await post(`${b.url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }), { 'x-forwarded-for': 'not-an-ip' })
      assert.equal(junk.status, 400)
    } finally {
      await untrusted.close()
      await trusting.close()
    }
  })

  it('answers carry no CORS headers', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0 })
    try {
      const { url } = await reflector.listen()
      const res = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE }), { origin: 'https://evil.example' })
      assert.equal(res.headers['access-control-allow-origin'], undefined)
    } finally {
      await reflector.close()
    }
  })

  it('a client may shorten the connect attempt (timeout_ms >= 200), never below the floor', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true })
    try {
      const { url } = await reflector.listen()
      const low = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE, timeout_ms: 5 }))
      assert.equal(low.status, 400)
      assert.match((low.json.error as { message: string }).message, /timeout_ms/)
      const ok = await post(`${url}/v1/nat/dialback`, JSON.stringify({ port: 9, nonce: NONCE, timeout_ms: 500 }))
      assert.equal(ok.status, 200)
    } finally {
      await reflector.close()
    }
  })

  it('rejects a trustProxy entry that is not a CIDR', () => {
    assert.throws(() => createReflectorServer({ trustProxy: ['nope'] }), (err: unknown) => (err as { code?: string }).code === 'ERR_INVALID_ADDRESS')
  })
})
