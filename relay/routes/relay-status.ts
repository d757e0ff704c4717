/** `GET /iicp/health` (the relay's own status) and `GET /metrics` (Prometheus text). */
import type { ServerResponse } from 'node:http'
import { sendError, sendJson } from '../http-io.ts'
import type { RouteContext } from './context.ts'

/** `GET /iicp/health`: `{"status":"ok","relay":{sessions, max_sessions, pending_connections, uptime_s, version, node_id}}`. */
export function relayHealth (ctx: RouteContext, res: ServerResponse): void {
  sendJson(res, 200, { status: 'ok', relay: ctx.status() })
}

/** `GET /metrics`: the relay's own registry in the Prometheus text format (404 when served on a separate listener). */
export async function relayMetrics (ctx: RouteContext, res: ServerResponse): Promise<void> {
  if (ctx.metricsOnHttpFront === false) {
    sendError(res, 404, 'not_found', 'metrics are served on the metrics listener')
    return
  }
  const text = Buffer.from(await ctx.metrics.registry.metrics(), 'utf8')
  // No CORS: metrics are for the operator's scraper, not for web pages.
  res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType, 'content-length': text.length })
  res.end(text)
}
