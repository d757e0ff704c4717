/**
 * Inbound dial-back reflector (AutoNAT v2 model): `POST /v1/nat/dialback`
 * `{"port": P, "nonce": "<hex>", "protocol": "tcp"}` makes the server open a TCP connection to
 * **the requester's own observed address** (the TCP peer of the HTTP request) on port P,
 * write `IICP-DIALBACK <nonce>\n`, and answer
 * `{"reachable", "observed_address", "port", "latency_ms", "error"?}`.
 *
 * It can only ever dial the address the request came from, so it cannot be aimed at third
 * parties. Give it `dialFrom` addresses the client never talks to: a dial-back from the very
 * address the client just contacted also passes an address-restricted NAT filter, so clients
 * treat such a success as weaker evidence (the answer's `dialed_from` tells them which it was). Requests are rate-limited per source (IPv6 per /64), dials are bounded in number
 * and time, bodies in size. Usable as a relay extra route ({@link createDialbackRoute}) or
 * standalone ({@link createReflectorServer}).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { sendJson } from '../../src/http/json-response.ts'
import { parseJsonObject, readBody } from '../../src/http/read-body.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { listenTcp } from '../../src/transport/listen.ts'

/** Path of the dial-back route. */
export const DIALBACK_PATH = '/v1/nat/dialback'
/** Line prefix the reflector writes to the dialed listener. */
export const DIALBACK_GREETING = 'IICP-DIALBACK'
/** Default deadline of one dial-back connect. */
const DIALBACK_TIMEOUT_MS = 2000
/** Default number of dial-backs in flight. */
const MAX_CONCURRENT_DIALS = 32
/** Default requests per source per window. */
const DIALBACK_RATE_LIMIT = 10
/** Default rate-limit window. */
const DIALBACK_RATE_WINDOW_MS = 60_000
/** Largest request body accepted. */
const MAX_DIALBACK_BODY_BYTES = 1024
/** Most sources tracked by the rate limiter. */
const MAX_TRACKED_SOURCES = 10_000

/** Options for {@link createDialbackRoute} and {@link createReflectorServer}. */
export interface ReflectorOptions {
  /** Deadline of one dial-back. @default 2000 */
  dialTimeoutMs?: number
  /** Dial-backs in flight at once; more get 503. @default 32 */
  maxConcurrentDials?: number
  /** Requests per source (IPv4 address or IPv6 /64) per window; more get 429. @default 10 */
  rateLimit?: number
  /** Rate-limit window. @default 60000 */
  rateWindowMs?: number
  /** Most sources tracked; when full, expired entries are swept and then new sources get 503. @default 10000 */
  maxTrackedSources?: number
  /**
   * Local addresses to dial back from (one per family is used; IPv4-mapped forms are unwrapped).
   * Use addresses that clients never contact, so the check also holds behind address-restricted filters.
   * @default the kernel's choice (normally the address the request arrived on)
   */
  dialFrom?: string[]
  /** Logger. @default silentLogger() */
  logger?: Logger
}

/** The answer body of a dial-back. */
export interface DialbackAnswer {
  /** A TCP connection to observed_address:port was established and the nonce written. */
  reachable: boolean
  /** The requester's address as the reflector saw it (the address it dialed). */
  observed_address: string
  /** The port dialed. */
  port: number
  /** Connect time in milliseconds, when reachable. */
  latency_ms: number | null
  /** The reflector's local address the dial-back came from (null when the connect failed). */
  dialed_from: string | null
  /** Why the dial failed (e.g. `ECONNREFUSED`, `timeout`). */
  error?: string
}

/** A route in the shape the relay's extra-route hook takes. */
export interface DialbackRoute {
  /** HTTP method. */
  method: 'POST'
  /** Path. */
  path: typeof DIALBACK_PATH
  /** Handles one request; `signal` fires when the request or server is torn down. */
  handler: (req: IncomingMessage, res: ServerResponse, context: { signal: AbortSignal }) => Promise<void>
  /** Aborts in-flight dial-backs (for shutdown). Idempotent. */
  close: () => void
}

/** Answers with JSON (never cached) unless an answer has already started. */
function reply (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  sendJson(res, status, body, { 'cache-control': 'no-store', ...headers })
}

function sourceKey (ip: string): string {
  const p = tryParseIp(ip)
  return p?.family === 6 ? `${expandPrefix64(p.address)}::/64` : ip
}

function expandPrefix64 (addr: string): string {
  const [head = '', tail = ''] = addr.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  return [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t].slice(0, 4).join(':')
}

function parseRequest (body: Buffer): { port: number, nonce: string } {
  const { port, nonce, protocol } = parseJsonObject(body)
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new ToolkitError(ErrorCode.BadRequest, '"port" must be an integer 1-65535')
  if (typeof nonce !== 'string' || !/^[0-9a-fA-F]{16,128}$/.test(nonce)) throw new ToolkitError(ErrorCode.BadRequest, '"nonce" must be 16-128 hex characters')
  if (protocol !== undefined && protocol !== 'tcp') throw new ToolkitError(ErrorCode.BadRequest, '"protocol" must be "tcp"')
  return { port, nonce: nonce.toLowerCase() }
}

interface DialResult { ok: boolean, latencyMs: number | null, from: string | null, error?: string }

/** Dials host:port, writes the greeting, and reports the outcome. Never rejects. */
async function dialBack (host: string, port: number, nonce: string, timeoutMs: number, localAddress: string | undefined, signal: AbortSignal): Promise<DialResult> {
  if (signal.aborted) return { ok: false, latencyMs: null, from: null, error: 'aborted' }
  const started = performance.now()
  return await new Promise(resolve => {
    const socket: Socket = connect({ host, port, noDelay: true, ...(localAddress === undefined ? {} : { localAddress }) })
    const finish = (r: DialResult): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(r)
    }
    const timer = setTimeout(() => {
      socket.destroy()
      finish({ ok: false, latencyMs: null, from: null, error: 'timeout' })
    }, timeoutMs)
    const onAbort = (): void => {
      socket.destroy()
      finish({ ok: false, latencyMs: null, from: null, error: 'aborted' })
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', (err: NodeJS.ErrnoException) => { finish({ ok: false, latencyMs: null, from: null, error: err.code ?? err.message }) })
    socket.on('connect', () => {
      const latencyMs = Math.round((performance.now() - started) * 10) / 10
      const from = tryParseIp(socket.localAddress)?.address ?? null
      socket.end(`${DIALBACK_GREETING} ${nonce}\n`, () => {
        finish({ ok: true, latencyMs, from })
        // Give the peer a moment to read before the socket goes; never longer than a second.
        setTimeout(() => { socket.destroy() }, 1000).unref()
      })
    })
  })
}

/**
 * Creates the dial-back request handler, in the shape of a relay extra route.
 *
 * @example
 * ```ts
 * const route = createDialbackRoute({ rateLimit: 5 })
 * // relay: extraRoutes: [route]; on shutdown: route.close()
 * ```
 */
export function createDialbackRoute (options: ReflectorOptions = {}): DialbackRoute {
  const log = options.logger ?? silentLogger()
  const dialTimeout = options.dialTimeoutMs ?? DIALBACK_TIMEOUT_MS
  const maxDials = options.maxConcurrentDials ?? MAX_CONCURRENT_DIALS
  const limit = options.rateLimit ?? DIALBACK_RATE_LIMIT
  const windowMs = options.rateWindowMs ?? DIALBACK_RATE_WINDOW_MS
  const maxSources = options.maxTrackedSources ?? MAX_TRACKED_SOURCES
  const dialFrom = new Map<4 | 6, string>()
  for (const a of options.dialFrom ?? []) {
    const ip = tryParseIp(a)
    if (ip === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `dialFrom: not an IP address: "${a}"`)
    if (!dialFrom.has(ip.family)) dialFrom.set(ip.family, ip.address)
  }
  const windows = new Map<string, { count: number, resetAt: number }>()
  const shutdown = new AbortController()
  let active = 0

  /** Returns 0 when allowed, else seconds to wait (or -1 when the table is full). */
  const take = (key: string): number => {
    const now = performance.now()
    let w = windows.get(key)
    if (w !== undefined && w.resetAt <= now) {
      windows.delete(key)
      w = undefined
    }
    if (w === undefined) {
      if (windows.size >= maxSources) {
        // Insertion order is window-start order (a key is re-inserted when its window restarts),
        // so the expired entries sit at the front: stop at the first live one.
        for (const [k, v] of windows) {
          if (v.resetAt > now) break
          windows.delete(k)
        }
        if (windows.size >= maxSources) return -1
      }
      windows.set(key, { count: 1, resetAt: now + windowMs })
      return 0
    }
    if (w.count >= limit) return Math.max(1, Math.ceil((w.resetAt - now) / 1000))
    w.count++
    return 0
  }

  const handler = async (req: IncomingMessage, res: ServerResponse, context: { signal: AbortSignal }): Promise<void> => {
    if (req.method !== 'POST') {
      reply(res, 405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' })
      return
    }
    const observed = tryParseIp(req.socket.remoteAddress)
    if (observed === undefined) {
      reply(res, 500, { error: 'internal', message: 'peer address unknown' })
      return
    }
    const wait = take(sourceKey(observed.address))
    if (wait !== 0) {
      log.debug({ peer: observed.address }, 'dial-back rate limited')
      if (wait === -1) reply(res, 503, { error: 'busy', message: 'too many sources' })
      else reply(res, 429, { error: 'rate_limited', message: `at most ${limit} requests per ${windowMs / 1000} s` }, { 'retry-after': String(wait) })
      return
    }
    const signal = AbortSignal.any([context.signal, shutdown.signal])
    let request: { port: number, nonce: string }
    try {
      request = parseRequest(await readBody(req, MAX_DIALBACK_BODY_BYTES, signal))
    } catch (err) {
      const tooLarge = err instanceof ToolkitError && err.code === ErrorCode.BodyTooLarge
      reply(res, tooLarge ? 413 : 400, { error: tooLarge ? 'body_too_large' : 'bad_request', message: errorMessage(err) }, tooLarge ? { connection: 'close' } : {})
      return
    }
    if (active >= maxDials) {
      reply(res, 503, { error: 'busy', message: 'too many dial-backs in flight' }, { 'retry-after': '1' })
      return
    }
    active++
    let result
    try {
      result = await dialBack(observed.address, request.port, request.nonce, dialTimeout, dialFrom.get(observed.family), signal)
    } finally {
      active--
    }
    log.info({ peer: observed.address, port: request.port, reachable: result.ok, error: result.error }, 'dial-back')
    const answer: DialbackAnswer = { reachable: result.ok, observed_address: observed.address, port: request.port, latency_ms: result.latencyMs, dialed_from: result.from }
    if (result.error !== undefined) answer.error = result.error
    reply(res, 200, answer)
  }

  return {
    method: 'POST',
    path: DIALBACK_PATH,
    handler,
    close: () => { shutdown.abort() }
  }
}

/** Options for {@link createReflectorServer}. */
export interface ReflectorServerOptions extends ReflectorOptions {
  /** Listen address. @default '127.0.0.1' */
  host?: string
  /** Listen port (0 = ephemeral). @default 0 */
  port?: number
}

/** A standalone reflector HTTP server. */
export interface ReflectorServer {
  /** Starts listening; resolves with the bound address and the base URL. */
  listen: () => Promise<{ address: string, port: number, url: string }>
  /** Stops accepting, aborts dial-backs, drops connections. Idempotent. */
  close: () => Promise<void>
  /** Same as close(). */
  [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * Creates a standalone reflector serving only `POST /v1/nat/dialback` (for tests and the lab).
 *
 * @example
 * ```ts
 * const reflector = createReflectorServer({ host: '127.0.0.1', port: 0 })
 * const { url } = await reflector.listen()
 * ```
 */
export function createReflectorServer (options: ReflectorServerOptions = {}): ReflectorServer {
  const route = createDialbackRoute(options)
  const log = options.logger ?? silentLogger()
  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 1_000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== DIALBACK_PATH) {
      reply(res, 404, { error: 'not_found', message: `only ${DIALBACK_PATH}` })
      return
    }
    const ctrl = new AbortController()
    res.on('close', () => { ctrl.abort() })
    route.handler(req, res, { signal: ctrl.signal }).catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'dial-back handler failed')
      reply(res, 500, { error: 'internal', message: 'internal error' })
    })
  })
  server.maxConnections = 1024
  server.on('error', err => { log.error({ err: err.message }, 'reflector server error') })
  server.on('clientError', (_err, socket) => { socket.destroy() })
  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= new Promise<void>(resolve => {
      route.close()
      if (!server.listening) {
        resolve()
        return
      }
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
    await closing
  }
  return {
    listen: async () => {
      const addr = await listenTcp(server, { port: options.port ?? 0, host: options.host ?? '127.0.0.1' })
      return { address: addr.address, port: addr.port, url: `http://${formatHostPort(addr.address, addr.port)}` }
    },
    close,
    [Symbol.asyncDispose]: close
  }
}
