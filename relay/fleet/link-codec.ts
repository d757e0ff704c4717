/**
 * What travels back on the internal link. A buffered call answers 200 with the worker's
 * RESPONSE body as is, or an error status with `{"code","message","details"}` (a ToolkitError
 * rebuilt on the calling relay with the same code, so the HTTP answer is the one a local call
 * would give). A stream answers 200 with IICP frames: one lifecycle RESPONSE frame per event,
 * and, when the stream fails, a last CLOSE frame whose payload is that error's JSON.
 */
import type { ServerResponse } from 'node:http'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode))

/** HTTP status of an error answer on the link (informative; the calling relay reads `code`). */
function statusOf (code: ErrorCode): number {
  if (code === ErrorCode.SessionNotFound) return 404
  if (code === ErrorCode.SessionBusy) return 429
  if (code === ErrorCode.BadRequest || code === ErrorCode.BodyTooLarge) return 400
  return 500
}

/** The JSON of an error on the link. */
export function errorJson (err: unknown): Buffer {
  const e = isToolkitError(err) ? err : new ToolkitError(ErrorCode.FleetLink, errorMessage(err))
  return Buffer.from(JSON.stringify({ code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) }), 'utf8')
}

/** Answers a buffered call or a refused stream with an error. */
export function sendLinkError (res: ServerResponse, err: unknown, status?: number): void {
  if (res.headersSent || res.destroyed) return
  const body = errorJson(err)
  res.writeHead(status ?? statusOf(isToolkitError(err) ? err.code : ErrorCode.FleetLink), { 'content-type': 'application/json', 'content-length': body.length })
  res.end(body)
}

/** Rebuilds the ToolkitError of an error answer; anything unreadable is ERR_FLEET_LINK. */
export function parseLinkError (body: Buffer, status: number): ToolkitError {
  try {
    const o = JSON.parse(body.toString('utf8')) as { code?: unknown, message?: unknown, details?: unknown }
    if (typeof o.code === 'string' && KNOWN_CODES.has(o.code) && typeof o.message === 'string') {
      const details = typeof o.details === 'object' && o.details !== null ? o.details as Record<string, unknown> : undefined
      return new ToolkitError(o.code as ErrorCode, o.message, details === undefined ? {} : { details })
    }
  } catch {
    // Fall through.
  }
  return new ToolkitError(ErrorCode.FleetLink, `owner relay answered HTTP ${status} without a readable error`)
}

/** The CLOSE frame that ends a failed stream on the link. */
export function streamErrorFrame (err: unknown): Buffer {
  return encodeFrame(MsgType.Close, errorJson(err))
}
