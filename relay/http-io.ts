/**
 * Small HTTP helpers for the relay's front: bounded body reading, JSON answers with CORS
 * headers, and the `{"error":{"code","message"}}` error body.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { ErrorCode, IicpCode, ToolkitError } from '../src/errors.ts'
import { CORS_HEADERS } from './cors.ts'

const JSON_HEADERS = { ...CORS_HEADERS, 'content-type': 'application/json' } as const

/** Writes `body` (already JSON) with the given status. */
export function sendJsonBytes (res: ServerResponse, status: number, body: Buffer, extra?: OutgoingHttpHeaders): void {
  res.writeHead(status, extra === undefined
    ? { ...JSON_HEADERS, 'content-length': body.length }
    : { ...JSON_HEADERS, ...extra, 'content-length': body.length })
  res.end(body)
}

/** Serialises `value` and writes it with the given status. */
export function sendJson (res: ServerResponse, status: number, value: unknown, extra?: OutgoingHttpHeaders): void {
  sendJsonBytes(res, status, Buffer.from(JSON.stringify(value), 'utf8'), extra)
}

/** Writes `{"error":{"code","message"}}` unless an answer has already started. */
export function sendError (res: ServerResponse, status: number, code: string, message: string, extra?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return
  sendJson(res, status, { error: { code, message } }, extra)
}

/**
 * Reads a request body of at most `limit` bytes. Rejects with ERR_BODY_TOO_LARGE (as soon
 * as the declared or received size exceeds the limit) or ERR_BAD_REQUEST (the client
 * went away mid-body).
 */
export async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (declared > limit) throw tooLarge(limit)
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        chunks.length = 0
        reject(tooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(new ToolkitError(ErrorCode.BadRequest, 'request body failed', { cause: err }))
    }
    const onClose = (): void => {
      cleanup()
      reject(new ToolkitError(ErrorCode.BadRequest, 'client closed the request before its body ended'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function tooLarge (limit: number): ToolkitError {
  return new ToolkitError(ErrorCode.BodyTooLarge, `request body exceeds ${limit} bytes`, { details: { limit } })
}

/** Parses a JSON object body; throws ERR_BAD_REQUEST for invalid JSON or a non-object. */
export function parseJsonObject (body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new ToolkitError(ErrorCode.BadRequest, 'request body is not valid JSON', { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ToolkitError(ErrorCode.BadRequest, 'request body must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** Answers a body that could not be read or parsed: 413 or 400, both IICP-E001. */
export function sendBodyError (res: ServerResponse, err: unknown): void {
  if (err instanceof ToolkitError && err.code === ErrorCode.BodyTooLarge) {
    // The rest of the body is not read, so the connection cannot be reused.
    sendError(res, 413, IicpCode.InvalidRequest, err.message, { connection: 'close' })
    return
  }
  sendError(res, 400, IicpCode.InvalidRequest, err instanceof Error ? err.message : 'bad request')
}
