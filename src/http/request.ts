/**
 * One bounded HTTP(S) client request: cancellation through an AbortSignal (pass a deadline
 * signal for a timeout), a response-size cap, no redirects, no DNS for IP literals. Shared by
 * the UPnP SOAP client, the dial-back reflector client and the worker's JSON POSTs.
 */
import { request as httpRequestRaw, type Agent, type IncomingHttpHeaders, type RequestOptions } from 'node:http'
import { request as httpsRequestRaw } from 'node:https'
import { abortError, throwIfAborted } from '../abort.ts'
import { ErrorCode, ToolkitError } from '../errors.ts'

/** Options for {@link httpRequest}. */
export interface HttpRequestOptions {
  /** Absolute `http:` or `https:` URL. */
  url: string | URL
  /** Method. @default 'GET' */
  method?: 'GET' | 'POST' | 'DELETE'
  /** Request headers. */
  headers?: Record<string, string>
  /** Request body. */
  body?: string | Buffer
  /** Largest response body accepted; more fails with ERR_BODY_TOO_LARGE. @default 65536 */
  maxBodyBytes?: number
  /** Address family for name lookups (IP literals ignore it). */
  family?: 4 | 6
  /** Local address to send from. */
  localAddress?: string
  /** Cancels the request (use a deadline signal for a timeout); it rejects with the signal's abort error. */
  signal?: AbortSignal | undefined
  /** Error code for transport failures (the original error is the `cause`). @default 'ERR_BACKEND_FAILED' */
  errorCode?: ToolkitError['code']
  /**
   * Connection agent (a keep-alive pool). Without one, every request opens its own connection
   * and sends `connection: close`.
   * @default false
   */
  agent?: Agent | false
}

/** A complete response. */
export interface HttpResponse {
  /** HTTP status code. */
  status: number
  /** Response headers (lower-case names). */
  headers: IncomingHttpHeaders
  /** Body bytes (bounded). */
  body: Buffer
  /** The server address the request went to (the TCP peer). */
  remoteAddress: string | undefined
}

/** Default response size cap of {@link httpRequest}. */
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024

/**
 * Sends one request and reads the whole (bounded) response, whatever its status. Rejects with
 * ERR_INVALID_CONFIG (not an http(s) URL), ERR_BODY_TOO_LARGE (`details.maxBytes`), the signal's
 * abort error, or `errorCode` for a transport failure.
 *
 * @example
 * ```ts
 * const dl = deadline(2000, signal, ErrorCode.Reflector, 'reflector timed out')
 * try {
 *   const res = await httpRequest({ url, method: 'POST', body, signal: dl.signal })
 * } finally {
 *   dl.clear()
 * }
 * ```
 */
export async function httpRequest (options: HttpRequestOptions): Promise<HttpResponse> {
  const url = typeof options.url === 'string' ? new URL(options.url) : options.url
  const code = options.errorCode ?? ErrorCode.BackendFailed
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolkitError(ErrorCode.InvalidConfig, `unsupported URL scheme in ${url.href}`)
  const signal = options.signal
  throwIfAborted(signal, `request to ${url.href}`)
  const max = options.maxBodyBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  const agent = options.agent ?? false
  const headers: Record<string, string> = agent === false ? { connection: 'close', ...options.headers } : { ...options.headers }
  if (body !== undefined) headers['content-length'] = String(body.length)
  const reqOptions: RequestOptions = {
    method: options.method ?? 'GET',
    headers,
    agent,
    ...(options.family === undefined ? {} : { family: options.family }),
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
  }
  const send = url.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw
  return await new Promise<HttpResponse>((resolve, reject) => {
    let settled = false
    const finish = (err: Error | undefined, res?: HttpResponse): void => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', onAbort)
      if (err !== undefined) reject(err)
      else if (res !== undefined) resolve(res)
    }
    const req = send(url, reqOptions, res => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('error', err => { finish(new ToolkitError(code, `response from ${url.href} failed: ${err.message}`, { cause: err })) })
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > max) {
          finish(new ToolkitError(ErrorCode.BodyTooLarge, `response from ${url.href} exceeds ${max} bytes`, { details: { maxBytes: max } }))
          req.destroy()
          return
        }
        chunks.push(chunk)
      })
      const remoteAddress = res.socket.remoteAddress
      res.on('end', () => { finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size), remoteAddress }) })
    })
    const onAbort = (): void => {
      finish(abortError(signal, `request to ${url.href}`))
      req.destroy()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', err => { finish(new ToolkitError(code, `request to ${url.href} failed: ${err.message}`, { cause: err })) })
    req.end(body)
  })
}
