/**
 * The local HTTP endpoint of `iicp-connect` (like frp's visitor port): `POST /v1/task` sends the
 * body to the worker through the best path and answers exactly what the relay would have
 * answered; `GET /iicp/connect/status` returns the client's status document and `GET /metrics`
 * its Prometheus metrics (metrics.ts). Bounded: body size,
 * connection count, header and request deadlines.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { errorMessage, isToolkitError, ErrorCode, IicpCode, ToolkitError } from '../../src/errors.ts'
import { sendJson, sendJsonBytes, sendJsonError } from '../../src/http/json-response.ts'
import { readBody } from '../../src/http/read-body.ts'
import { HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, MAX_REQUEST_BODY_BYTES } from '../../src/limits.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import type { ConnectClient } from './client.ts'
import { createConnectMetrics } from './metrics.ts'

/** Most concurrent connections to the local endpoint. */
export const GATEWAY_MAX_CONNECTIONS = 1024

/** A listening gateway. */
export interface ConnectGateway {
  readonly address: AddressInfo
  /** Stops accepting, ends idle connections, waits up to `graceMs` (default 5 s) for in-flight requests, then cuts them. */
  close: (graceMs?: number) => Promise<void>
}

async function onTask (client: ConnectClient, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const gone = new AbortController()
  // 'close' also follows every finished answer: only a client gone before that cancels the task
  // (an abort without a reason would build a DOMException, with its stack, per request).
  res.on('close', () => { if (!res.writableFinished) gone.abort(new ToolkitError(ErrorCode.Aborted, 'HTTP client went away')) })
  let body: Buffer
  try {
    body = await readBody(req, MAX_REQUEST_BODY_BYTES, gone.signal)
  } catch (err) {
    if (isToolkitError(err, ErrorCode.BodyTooLarge)) sendJsonError(res, 413, IicpCode.InvalidRequest, errorMessage(err), { connection: 'close' })
    else sendJsonError(res, 400, IicpCode.InvalidRequest, errorMessage(err))
    return
  }
  try {
    const answer = await client.send(body, gone.signal)
    if (res.headersSent || res.destroyed) return
    const headers: Record<string, string> = { 'x-iicp-path': answer.path }
    if (answer.retryAfter !== undefined) headers['retry-after'] = answer.retryAfter
    sendJsonBytes(res, answer.status, answer.body, headers)
  } catch (err) {
    sendJsonError(res, 502, IicpCode.ForwardFailed, errorMessage(err))
  }
}

/** Serves `client` on `host:port` (port 0 = ephemeral). */
export async function startConnectGateway (client: ConnectClient, host: string, port: number): Promise<ConnectGateway> {
  const metrics = createConnectMetrics(client)
  const server: Server = createServer({ headersTimeout: HTTP_HEADERS_TIMEOUT_MS, requestTimeout: HTTP_REQUEST_TIMEOUT_MS }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'POST' && path === '/v1/task') {
      void onTask(client, req, res)
    } else if (req.method === 'GET' && path === '/iicp/connect/status') {
      sendJson(res, 200, client.status())
    } else if (req.method === 'GET' && path === '/metrics') {
      metrics.metrics().then(text => {
        res.writeHead(200, { 'content-type': metrics.contentType }).end(text)
      }, (err: unknown) => { sendJsonError(res, 500, IicpCode.ForwardFailed, `metrics failed: ${errorMessage(err)}`) })
    } else {
      sendJsonError(res, 404, IicpCode.InvalidRequest, `no route for ${req.method ?? ''} ${path ?? ''}`)
    }
  })
  server.maxConnections = GATEWAY_MAX_CONNECTIONS
  const address = await listenTcp(server, { host, port })
  return {
    address,
    close: async (graceMs = 5_000) => {
      await new Promise<void>(resolve => {
        const force = setTimeout(() => { server.closeAllConnections() }, graceMs)
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        server.closeIdleConnections()
      })
    }
  }
}
