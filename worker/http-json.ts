/**
 * A JSON POST with a deadline, cancellation and a bounded response body, on the shared
 * src/http/request.ts client, with the worker's error shape (`errorCode` for every failure).
 * Used for the local task backend and the directory (tickets, re-registration).
 */
import type { Agent } from 'node:http'
import { abortError, deadline } from '../src/abort.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../src/errors.ts'
import { stringifyJsonBytes } from '../src/http/json-large-stringify.ts'
import { parseJsonBytes } from '../src/http/json-text.ts'
import { httpRequest, type HttpResponse } from '../src/http/request.ts'

/** Options for {@link postJson}. */
export interface PostJsonOptions {
  /** What the request is, for messages: `backend`, `ticket fetch`, … */
  what: string
  /** Error code of every failure (timeout, transport, oversized response). */
  errorCode: ToolkitError['code']
  /** Whole-request deadline (connect, send, response body). */
  timeoutMs: number
  /** Cancels the request; its reason (when a ToolkitError) is what the call rejects with. */
  signal?: AbortSignal | undefined
  /** Extra request headers. */
  headers?: Record<string, string>
  /** Largest response body read. @default 1 MiB */
  maxResponseBytes?: number
  /** Connection agent; `false` opens one connection for this request. @default false */
  agent?: Agent | false
}

/** A completed HTTP exchange. `json` is the parsed body, or undefined when `isJson` is false. */
export interface JsonReply {
  status: number
  isJson: boolean
  json: unknown
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

/**
 * POSTs `body` as JSON to `url` and reads the whole answer, whatever its status (large strings
 * on both ways take the worker's large-string JSON paths). Rejects with a
 * ToolkitError carrying `errorCode` on timeout, transport failure or an oversized answer, or with
 * the signal's reason when `signal` fires.
 */
export async function postJson (url: URL, body: unknown, options: PostJsonOptions): Promise<JsonReply> {
  const { what, errorCode, timeoutMs } = options
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const limit = deadline(timeoutMs, options.signal, errorCode, `${what} timed out after ${timeoutMs} ms`)
  let res: HttpResponse
  try {
    res = await httpRequest({
      url,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
      body: stringifyJsonBytes(body) ?? 'null',
      maxBodyBytes: maxBytes,
      agent: options.agent ?? false,
      signal: limit.signal,
      errorCode
    })
  } catch (err) {
    if (limit.signal.aborted) throw abortError(limit.signal, what)
    if (isToolkitError(err, ErrorCode.BodyTooLarge)) throw new ToolkitError(errorCode, `${what} answer exceeds ${maxBytes} bytes`, { details: { maxBytes } })
    const cause = isToolkitError(err, errorCode) ? err.cause : err
    const reason = cause instanceof Error ? (cause as NodeJS.ErrnoException).code ?? cause.message : String(cause)
    throw new ToolkitError(errorCode, `${what} failed (${reason})`, { cause })
  } finally {
    limit.clear()
  }
  try {
    return { status: res.status, isJson: true, json: parseJsonBytes(res.body) }
  } catch {
    return { status: res.status, isJson: false, json: undefined }
  }
}

/** Joins a base URL and a path without doubling or dropping slashes: `joinUrl('http://h/api/', '/v1/x')`. */
export function joinUrl (base: string | URL, path: string): URL {
  return new URL(`${String(base).replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`)
}
