/**
 * Server-side JSON answers with an exact `content-length`, and the one JSON error writer:
 * every HTTP error the toolkit answers (relay front, extension routes, dial-back reflector)
 * has the body `{"error":{"code","message"}}`.
 */
import type { OutgoingHttpHeaders } from 'node:http'

/**
 * What the answer writers need of a response: node:http's `ServerResponse`, or a writer that
 * formats the answer onto a socket itself (the relay's task fast path).
 */
export interface AnswerWriter {
  /** True once the status line and headers are fixed. */
  readonly headersSent: boolean
  /** True once the connection is gone. */
  readonly destroyed: boolean
  writeHead: (status: number, headers: OutgoingHttpHeaders) => unknown
  write: (chunk: Buffer) => unknown
  end: (body?: Buffer) => unknown
  cork: () => void
  uncork: () => void
}

/** The body of every JSON error answer. */
export interface JsonErrorBody {
  error: {
    /** Stable machine-readable code, e.g. `IICP-E001` or `rate_limited`. */
    code: string
    /** Human-readable explanation. */
    message: string
  }
}

/** Writes `body` (already JSON) with the given status; `headers` may add to or override `content-type`. */
export function sendJsonBytes (res: AnswerWriter, status: number, body: Buffer, headers?: OutgoingHttpHeaders): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers, 'content-length': body.length })
  res.end(body)
}

/** Serialises `value` and writes it with the given status. */
export function sendJson (res: AnswerWriter, status: number, value: unknown, headers?: OutgoingHttpHeaders): void {
  sendJsonBytes(res, status, Buffer.from(JSON.stringify(value), 'utf8'), headers)
}

/** Writes `{"error":{"code","message"}}` unless an answer has already started. */
export function sendJsonError (res: AnswerWriter, status: number, code: string, message: string, headers?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return
  const body: JsonErrorBody = { error: { code, message } }
  sendJson(res, status, body, headers)
}
