/**
 * One URL is enough (issue 8 item 9): a relay (or standalone reflector) advertises its STUN
 * addresses and reflector in `GET /v1/nat/info`, and `probeNetwork({ reflectors: [url] })` uses
 * them before the public defaults. Also: the relay answers the dial-back route and /metrics
 * without CORS (issue 7 defect 7). Loopback only.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import type { NetworkInterfaceInfo } from 'node:os'
import { createDialbackRoute, createNatInfoRoute, createReflectorServer, createStunServer, probeNetwork } from '../../nat/index.ts'
import { discoverFromReflectors } from '../../nat/probe/discovery.ts'
import { startRelay } from '../helpers/relay-harness.ts'

const PRIVATE_ONLY = {
  networkInterfaces: (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({ eth0: [{ address: '192.168.1.2', family: 'IPv4', cidr: '192.168.1.2/24', internal: false, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' }] }),
  readIfInet6: (): string | undefined => undefined
}

async function fetchRaw (url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, res => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('NAT discovery document (item 9)', () => {
  it('probe --reflector URL alone: the STUN server comes from the relay\'s GET /v1/nat/info', async () => {
    const stun = createStunServer({ primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.3', port: 0 } })
    const info = await stun.listen()
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, stun: [info.primary, ...(info.alternate === undefined ? [] : [info.alternate])] })
    try {
      const { url } = await reflector.listen()
      const doc = JSON.parse((await fetchRaw(`${url}/v1/nat/info`, 'GET')).body) as Record<string, unknown>
      assert.equal(doc.schema, 'iicp-nat-info/v1')
      assert.equal(doc.stun_rfc5780, true)
      assert.deepEqual(doc.reflectors, ['/v1/nat/dialback'])
      const r = await probeNetwork({ port: 0, reflectors: [url], upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
      assert.equal(r.inputs.stun_source, 'reflector')
      assert.equal(r.inputs.stun_default_servers, false)
      assert.deepEqual(r.inputs.stun_servers, [`127.0.0.2:${info.primary.port}`, `127.0.0.3:${info.alternate?.port ?? 0}`])
      assert.equal(r.nat_behavior.method, 'rfc5780')
      assert.equal(r.nat_behavior.mapping, 'none')
      assert.deepEqual(r.inputs.discovery_errors, [])
      assert.equal(r.reachability_checks.length, 1, 'the advertised reflector is the one given, asked once')
    } finally {
      await reflector.close()
      await stun.close()
    }
  })

  it('a wildcard STUN bind is advertised as host null and resolved to the relay\'s host; a relay without the document falls back to the defaults', async () => {
    const relay = await startRelay({ extraRoutes: [createNatInfoRoute({ stun: () => [{ address: '0.0.0.0', port: 3478 }], reflector: false })] })
    try {
      const doc = JSON.parse((await fetchRaw(`http://127.0.0.1:${relay.httpPort}/v1/nat/info`, 'GET')).body) as { stun: unknown, reflectors: unknown }
      assert.deepEqual(doc.stun, [{ host: null, port: 3478 }])
      assert.deepEqual(doc.reflectors, [])
    } finally {
      await relay.close()
    }
    const bare = await startRelay()
    try {
      // (Not probed: the fallback would be the public default servers.)
      const found = await discoverFromReflectors([`http://127.0.0.1:${bare.httpPort}/v1/nat/dialback`], 800, undefined)
      assert.deepEqual(found.stun, [])
      assert.match(found.errors[0] ?? '', /\/v1\/nat\/info: HTTP 404/)
    } finally {
      await bare.close()
    }
  })
})

describe('no CORS on the relay\'s dial-back route and /metrics (issue 7 defect 7)', () => {
  it('preflights and answers for /v1/nat/dialback and /metrics carry no Access-Control-Allow-Origin; other routes keep it', async () => {
    const route = createDialbackRoute()
    const relay = await startRelay({ extraRoutes: [route] })
    try {
      const base = `http://127.0.0.1:${relay.httpPort}`
      const pre = await fetchRaw(`${base}/v1/nat/dialback`, 'OPTIONS', { origin: 'https://evil.example', 'access-control-request-method': 'POST' })
      assert.equal(pre.headers['access-control-allow-origin'], undefined)
      const post = await fetchRaw(`${base}/v1/nat/dialback`, 'POST', { 'content-type': 'application/json', origin: 'https://evil.example' }, JSON.stringify({ port: 9, nonce: '0123456789abcdef0123456789abcdef' }))
      assert.equal(post.status, 403, 'the relay refuses to dial its own loopback')
      assert.equal(post.headers['access-control-allow-origin'], undefined)
      const metricsPre = await fetchRaw(`${base}/metrics`, 'OPTIONS', { origin: 'https://evil.example' })
      assert.equal(metricsPre.headers['access-control-allow-origin'], undefined)
      const metrics = await fetchRaw(`${base}/metrics`, 'GET', { origin: 'https://evil.example' })
      assert.equal(metrics.headers['access-control-allow-origin'], undefined)
      const health = await fetchRaw(`${base}/iicp/health`, 'GET', { origin: 'https://app.example' })
      assert.equal(health.headers['access-control-allow-origin'], '*')
    } finally {
      route.close()
      await relay.close()
    }
  })
})
