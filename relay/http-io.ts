/**
 * The relay front's answers: JSON with the CORS headers every relay response carries, the
 * `{"error":{"code","message"}}` error body, and the 413/400 answer to an unreadable body.
 * Body reading and the plain JSON writer are shared (src/http/).
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { ErrorCode, IicpCode, ToolkitError } from '../src/errors.ts'
import { sendJsonBytes as writeJsonBytes, sendJsonError, type AnswerWriter } from '../src/http/json-response.ts'
import { CORS_HEADERS } from './cors.ts'

/** Writes `body` (already JSON) with the given status and the CORS headers. */
export function sendJsonBytes (res: AnswerWriter, status: number, body: Buffer, extra?: OutgoingHttpHeaders): void {
  writeJsonBytes(res, status, body, extra === undefined ? CORS_HEADERS : { ...CORS_HEADERS, ...extra })
}

/** Serialises `value` and writes it with the given status and the CORS headers. */
export function sendJson (res: AnswerWriter, status: number, value: unknown, extra?: OutgoingHttpHeaders): void {
  sendJsonBytes(res, status, Buffer.from(JSON.stringify(value), 'utf8'), extra)
}

/** Writes `{"error":{"code","message"}}` unless an answer has already started. */
export function sendError (res: AnswerWriter, status: number, code: string, message: string, extra?: OutgoingHttpHeaders): void {
  sendJsonError(res, status, code, message, extra === undefined ? CORS_HEADERS : { ...CORS_HEADERS, ...extra })
}

/** Answers a body that could not be read or parsed: 413 or 400, both IICP-E001. */
export function sendBodyError (res: AnswerWriter, err: unknown): void {
  if (err instanceof ToolkitError && err.code === ErrorCode.BodyTooLarge) {
    // The rest of the body is not read, so the connection cannot be reused.
    sendError(res, 413, IicpCode.InvalidRequest, err.message, { connection: 'close' })
    return
  }
  sendError(res, 400, IicpCode.InvalidRequest, err instanceof Error ? err.message : 'bad request')
}
