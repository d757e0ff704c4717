/**
 * The worker's transports against a real relay with TLS (a CA and certificates made in the
 * test): iicpsec://, wss:// and https:// long-poll each bind and serve a task sent to the
 * HTTPS relay-for endpoint; a wrong host name, an expired certificate and an unknown CA are
 * refused with ERR_TLS_CERTIFICATE; a certificate reload keeps a bound session; `auto` falls
 * back from TCP to WSS to long-poll; HTTPS_PROXY tunnels WSS and long-poll through CONNECT.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync } from 'node:fs'
import { request } from 'node:https'
import { connect as netConnect, createServer } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { createRelay, type Relay, type RelayOptions } from '../../relay/index.ts'
import { isToolkitError, type ToolkitError } from '../../src/errors.ts'
import { createWorker, type Worker, type WorkerOptions } from '../../worker/index.ts'
import type { WorkerTransportOptions } from '../../worker/transports/dialer.ts'
import { startConnectProxy } from '../helpers/connect-proxy.ts'
import { http } from '../helpers/relay-harness.ts'
import { createTestPki, type TestPki } from '../helpers/tls-certs.ts'

let pki: TestPki

before(() => { pki = createTestPki() })
after(() => { pki.cleanup() })

interface Setup { relay: Relay, httpPort: number, relayPort: number, tlsRelayPort: number }

async function startTlsRelay (cert = pki.leaf, options: RelayOptions = {}): Promise<Setup> {
  const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, tls: cert, tlsRelayPort: 0, ...options })
  const a = await relay.listen()
  return { relay, httpPort: a.httpPort, relayPort: a.relayPort, tlsRelayPort: a.tlsRelayPort ?? 0 }
}

/** POSTs a task to the relay's HTTPS relay-for endpoint, trusting the test CA. */
async function httpsTask (port: number, workerId: string, task: object): Promise<{ status: number, body: Record<string, unknown> }> {
  const body = Buffer.from(JSON.stringify(task))
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/v1/relay-for/${workerId}/v1/task`, method: 'POST', ca: pki.caPem, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

function echoWorker (workerId: string, transport: WorkerTransportOptions, extra: Partial<WorkerOptions> = {}): Worker {
  return createWorker({
    relayHost: '127.0.0.1',
    relayPort: 1,
    workerId,
    transport,
    handler: task => ({ result: { echo: (task as { payload?: unknown }).payload } }),
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
    connectTimeoutMs: 2000,
    ...extra
  })
}

/** Starts `worker` and resolves with the first failed attempt's error. */
async function firstFailure (worker: Worker): Promise<ToolkitError> {
  const failed = new Promise<ToolkitError>(resolve => {
    worker.on('backoff', info => { if (info.error !== undefined) resolve(info.error) })
  })
  await worker.start()
  return await failed
}

describe('worker transports over TLS', () => {
  for (const kind of ['iicpsec', 'wss', 'long-poll'] as const) {
    it(`${kind}: binds with --ca and serves a task sent to the HTTPS relay-for endpoint`, async () => {
      const s = await startTlsRelay()
      const relayUrl = kind === 'iicpsec' ? `iicpsec://127.0.0.1:${s.tlsRelayPort}` : kind === 'wss' ? `wss://127.0.0.1:${s.httpPort}/v1/relay/ws` : `https://127.0.0.1:${s.httpPort}`
      const worker = echoWorker(`w-${kind}`, { relay: relayUrl, ca: pki.caPem })
      try {
        await worker.start()
        const info = await worker.whenBound()
        if (kind !== 'iicpsec') assert.equal(info.endpoint, `https://127.0.0.1:${s.httpPort}/v1/relay-for/w-${kind}`)
        const ans = await httpsTask(s.httpPort, `w-${kind}`, { task_id: 't1', payload: { n: 1 } })
        assert.equal(ans.status, 200)
        assert.deepEqual(ans.body, { task_id: 't1', status: 'completed', result: { echo: { n: 1 } } })
        const metrics = await s.relay.metrics.getSingleMetricAsString('iicp_relay_transport_binds_total')
        const label = kind === 'iicpsec' ? 'tls' : kind
        assert.match(metrics, new RegExp(`transport="${label}",outcome="ok"\\} 1`))
      } finally {
        await worker.stop()
        await s.relay.close()
      }
    })
  }

  const refusals = [
    { name: 'a wrong host name', cert: (): TestPki['leaf'] => pki.wrongHost, ca: true, reason: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    { name: 'an expired certificate', cert: (): TestPki['leaf'] => pki.expired, ca: true, reason: 'CERT_HAS_EXPIRED' },
    { name: 'a CA the worker was not given', cert: (): TestPki['leaf'] => pki.leaf, ca: false, reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }
  ]
  for (const r of refusals) {
    it(`refuses ${r.name} with ERR_TLS_CERTIFICATE on every TLS transport`, async () => {
      const s = await startTlsRelay(r.cert())
      try {
        for (const relay of [`iicpsec://127.0.0.1:${s.tlsRelayPort}`, `wss://127.0.0.1:${s.httpPort}/v1/relay/ws`, `https://127.0.0.1:${s.httpPort}`]) {
          const worker = echoWorker('w', { relay, ...(r.ca ? { ca: pki.caPem } : {}) })
          try {
            const err = await firstFailure(worker)
            assert.ok(isToolkitError(err, 'ERR_TLS_CERTIFICATE'), `${relay}: ${err.code} ${err.message}`)
            assert.equal(err.details?.reason, r.reason)
            assert.match(err.message, /TLS certificate of 127\.0\.0\.1:\d+ refused/)
          } finally {
            await worker.stop()
          }
        }
        assert.equal(s.relay.sessionCount, 0)
      } finally {
        await s.relay.close()
      }
    })
  }

  it('reloads the certificate for new handshakes while a bound session keeps serving', async () => {
    const dir = createTestPki()
    const s = await startTlsRelay(dir.leaf)
    const serialOf = async (): Promise<string> => await new Promise((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: s.tlsRelayPort, ca: dir.caPem }, () => {
        resolve(sock.getPeerCertificate().serialNumber)
        sock.destroy()
      })
      sock.on('error', reject)
    })
    const worker = echoWorker('w-reload', { relay: `iicpsec://127.0.0.1:${s.tlsRelayPort}`, ca: dir.caPem })
    try {
      await worker.start()
      await worker.whenBound()
      const before = await serialOf()
      copyFileSync(dir.leaf2.certFile, dir.leaf.certFile)
      copyFileSync(dir.leaf2.keyFile, dir.leaf.keyFile)
      assert.ok(s.relay.reloadTls()?.notAfter)
      assert.notEqual(await serialOf(), before)
      const ans = await (async () => {
        const body = Buffer.from(JSON.stringify({ task_id: 'after', payload: 2 }))
        return await new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: s.httpPort, path: '/v1/relay-for/w-reload/v1/task', method: 'POST', ca: dir.caPem, agent: false, headers: { 'content-length': body.length } }, res => { res.resume(); resolve(res.statusCode ?? 0) })
          req.on('error', reject)
          req.end(body)
        })
      })()
      assert.equal(ans, 200)
      assert.equal(worker.state, 'bound')
      copyFileSync(dir.caFile, dir.leaf.keyFile)
      assert.throws(() => s.relay.reloadTls(), { code: 'ERR_INVALID_CONFIG' })
    } finally {
      await worker.stop()
      await s.relay.close()
      dir.cleanup()
    }
  })
})

describe('--transport auto and proxies', () => {
  /** A loopback port with nothing listening (bound, then closed). */
  async function closedPort (): Promise<number> {
    const srv = createServer()
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
    const port = (srv.address() as { port: number }).port
    await new Promise<void>(resolve => srv.close(() => { resolve() }))
    return port
  }

  it('falls back from TCP to WebSocket, and to long-poll when WebSocket is off', async () => {
    for (const webSocket of [true, false]) {
      const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, webSocket })
      const { httpPort } = await relay.listen()
      const worker = echoWorker('w-auto', { relay: `http://127.0.0.1:${httpPort}`, mode: 'auto', tcpPort: await closedPort() })
      try {
        await worker.start()
        await worker.whenBound()
        const ans = await http(httpPort, '/v1/relay-for/w-auto/v1/task', { body: { task_id: 'a', payload: webSocket } })
        assert.deepEqual(ans.json(), { task_id: 'a', status: 'completed', result: { echo: webSocket } })
        const binds = await relay.metrics.getSingleMetricAsString('iicp_relay_transport_binds_total')
        assert.match(binds, new RegExp(`transport="${webSocket ? 'ws' : 'long-poll'}",outcome="ok"`))
      } finally {
        await worker.stop()
        await relay.close()
      }
    }
  })

  it('goes back to TCP once it answers again: the fallback session ends and the worker rebinds over TCP', async () => {
    const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
    const { httpPort, relayPort } = await relay.listen()
    const tcpPort = await closedPort()
    const worker = echoWorker('w-up', { relay: `http://127.0.0.1:${httpPort}`, mode: 'auto', tcpPort, upgradeAfterMs: 200 })
    // Later, something listens on the TCP port again: a loopback forwarder to the relay-accept port.
    const forwarder = createServer(client => {
      const upstream = netConnect(relayPort, '127.0.0.1')
      client.pipe(upstream).pipe(client)
      client.on('error', () => { upstream.destroy() })
      upstream.on('error', () => { client.destroy() })
    })
    try {
      await worker.start()
      await worker.whenBound()
      const binds = async (): Promise<string> => await relay.metrics.getSingleMetricAsString('iicp_relay_transport_binds_total')
      assert.match(await binds(), /transport="ws",outcome="ok"\} 1/)
      const rebound = new Promise<void>(resolve => { worker.on('bind', () => { resolve() }) })
      await new Promise<void>(resolve => forwarder.listen(tcpPort, '127.0.0.1', resolve))
      await rebound
      assert.match(await binds(), /transport="tcp",outcome="ok"\} 1/)
      assert.deepEqual((await http(httpPort, '/v1/relay-for/w-up/v1/task', { body: { task_id: 'u', payload: 1 } })).json(), { task_id: 'u', status: 'completed', result: { echo: 1 } })
    } finally {
      await worker.stop()
      forwarder.close()
      await relay.close()
    }
  })

  it('prefers TCP when it answers', async () => {
    const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
    const { httpPort, relayPort } = await relay.listen()
    const worker = echoWorker('w-tcp', { relay: `http://127.0.0.1:${httpPort}`, mode: 'auto', tcpPort: relayPort })
    try {
      await worker.start()
      await worker.whenBound()
      assert.match(await relay.metrics.getSingleMetricAsString('iicp_relay_transport_binds_total'), /transport="tcp",outcome="ok"\} 1/)
    } finally {
      await worker.stop()
      await relay.close()
    }
  })

  it('tunnels WSS and long-poll through HTTPS_PROXY (CONNECT), and reports a refusing proxy as ERR_PROXY', async () => {
    const s = await startTlsRelay()
    const proxy = await startConnectProxy()
    try {
      for (const relay of [`wss://127.0.0.1:${s.httpPort}/v1/relay/ws`, `https://127.0.0.1:${s.httpPort}`]) {
        const worker = echoWorker('w-proxy', { relay, ca: pki.caPem, proxy: { httpsProxy: proxy.url } })
        try {
          await worker.start()
          await worker.whenBound()
          assert.equal((await httpsTask(s.httpPort, 'w-proxy', { task_id: 'p', payload: 'via proxy' })).status, 200)
        } finally {
          await worker.stop()
        }
      }
      assert.ok(proxy.connects.length >= 2)
      assert.ok(proxy.connects.every(c => c === `127.0.0.1:${s.httpPort}`))
      const bypass = echoWorker('w-direct', { relay: `wss://127.0.0.1:${s.httpPort}/v1/relay/ws`, ca: pki.caPem, proxy: { httpsProxy: proxy.url, noProxy: 'localhost,127.0.0.1' } })
      const seen = proxy.connects.length
      try {
        await bypass.start()
        await bypass.whenBound()
        assert.equal(proxy.connects.length, seen)
      } finally {
        await bypass.stop()
      }
      proxy.refuse = true
      const refused = echoWorker('w-refused', { relay: `https://127.0.0.1:${s.httpPort}`, ca: pki.caPem, proxy: { httpsProxy: proxy.url } })
      try {
        const err = await firstFailure(refused)
        assert.ok(isToolkitError(err, 'ERR_PROXY'), `${err.code}: ${err.message}`)
      } finally {
        await refused.stop()
      }
    } finally {
      await proxy.close()
      await s.relay.close()
    }
  })
})
