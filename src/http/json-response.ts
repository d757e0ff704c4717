/**
 * Server-side JSON answers with an exact `content-length`. Shared by the relay's HTTP front
 * (which adds its CORS headers) and the NAT dial-back reflector.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'

/** Writes `body` (already JSON) with the given status; `headers` may add to or override `content-type`. */
export function sendJsonBytes (res: ServerResponse, status: number, body: Buffer, headers?: OutgoingHttpHeaders): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers, 'content-length': body.length })
  res.end(body)
}

/** Serialises `value` and writes it with the given status. */
export function sendJson (res: ServerResponse, status: number, value: unknown, headers?: OutgoingHttpHeaders): void {
  sendJsonBytes(res, status, Buffer.from(JSON.stringify(value), 'utf8'), headers)
}
