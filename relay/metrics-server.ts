/**
 * The relay's metrics listener: `GET /metrics` (Prometheus text) on its own address, so the
 * public HTTP front need not expose it (`iicp-relay --metrics-host/--metrics-port`).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { sendJsonError } from '../src/http/json-response.ts'
import { listenTcp } from '../src/transport/listen.ts'

/** Headers and whole request must arrive within this long; scrapers send a bare GET. */
const METRICS_REQUEST_TIMEOUT_MS = 10_000
/** Scrapers are few: more open connections than this are dropped. */
const METRICS_MAX_CONNECTIONS = 64

/** A running metrics listener. */
export interface MetricsServer {
  /** The bound address. */
  readonly address: AddressInfo
  /** Stops listening and closes open connections; idempotent. */
  close: () => Promise<void>
}

/** Serves `registry` at `GET /metrics` on `host:port` (port 0 = ephemeral); rejects with the listen error. */
export async function startMetricsServer (registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      sendJsonError(res, 404, 'not_found', 'only GET /metrics is served here')
      return
    }
    if (req.method !== 'GET') {
      sendJsonError(res, 405, 'method_not_allowed', 'use GET', { allow: 'GET' })
      return
    }
    registry.metrics().then(text => {
      res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }, (err: unknown) => { sendJsonError(res, 500, 'internal_error', (err as Error).message) })
  })
  server.headersTimeout = METRICS_REQUEST_TIMEOUT_MS
  server.requestTimeout = METRICS_REQUEST_TIMEOUT_MS
  server.maxConnections = METRICS_MAX_CONNECTIONS
  const address = await listenTcp(server, { host, port })
  let closing: Promise<void> | undefined
  return {
    address,
    close: async () => {
      closing ??= new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
      await closing
    }
  }
}
