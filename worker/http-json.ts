/**
 * A JSON POST with a deadline, cancellation and a bounded response body, over node:http(s).
 * Used for the local task backend and the directory (tickets, re-registration).
 */
import { request as httpRequest, type Agent } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { abortError, deadline } from '../src/abort.ts'
import { ToolkitError, isToolkitError } from '../src/errors.ts'

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
  text: string
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

/**
 * POSTs `body` as JSON to `url` and reads the whole answer, whatever its status. Rejects with a
 * ToolkitError carrying `errorCode` on timeout, transport failure or an oversized answer, or with
 * the signal's reason when `signal` fires.
 */
export async function postJson (url: URL, body: unknown, options: PostJsonOptions): Promise<JsonReply> {
  const { what, errorCode, timeoutMs } = options
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const limit = deadline(timeoutMs, options.signal, errorCode, `${what} timed out after ${timeoutMs} ms`)
  const payload = Buffer.from(JSON.stringify(body) ?? 'null', 'utf8')
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  const wrap = (err: unknown): ToolkitError => {
    if (limit.signal.aborted) return abortError(limit.signal, what)
    if (isToolkitError(err)) return err
    const reason = err instanceof Error ? (err as NodeJS.ErrnoException).code ?? err.message : String(err)
    return new ToolkitError(errorCode, `${what} failed (${reason})`, { cause: err })
  }
  try {
    return await new Promise<JsonReply>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': String(payload.length),
          ...options.headers
        },
        agent: options.agent ?? false,
        signal: limit.signal
      }, res => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > maxBytes) {
            req.destroy(new ToolkitError(errorCode, `${what} answer exceeds ${maxBytes} bytes`, { details: { maxBytes } }))
            return
          }
          chunks.push(chunk)
        })
        res.on('error', err => { reject(wrap(err)) })
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          let isJson = false
          try {
            json = JSON.parse(text)
            isJson = true
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, isJson, json, text })
        })
      })
      req.on('error', err => { reject(wrap(err)) })
      req.end(payload)
    })
  } finally {
    limit.clear()
  }
}

/** Joins a base URL and a path without doubling or dropping slashes: `joinUrl('http://h/api/', '/v1/x')`. */
export function joinUrl (base: string | URL, path: string): URL {
  return new URL(`${String(base).replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`)
}
