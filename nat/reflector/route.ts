/**
 * Inbound dial-back reflector (AutoNAT v2 model): `POST /v1/nat/dialback`
 * `{"port": P, "nonce": "<hex>", "protocol": "tcp", "timeout_ms"?: T}` makes the server open a TCP connection to
 * **the requester's own observed address** (the TCP peer of the HTTP request) on port P,
 * write `IICP-DIALBACK <nonce>\n`, and answer
 * `{"reachable", "observed_address", "port", "latency_ms", "dialed_from", "error"?}`.
 * Errors answer `{"error":{"code","message"}}` (src/http/route.ts), as every toolkit route does.
 *
 * It can only ever dial the address the request came from, so it cannot be aimed at third
 * parties, and only a global unicast one: loopback, link-local, private, CGNAT, documentation and
 * other special-purpose addresses (and the server's own address) are refused with 403
 * `not_global` unless `allowPrivate` (labs and loopback tests), so a local reverse proxy cannot
 * turn it into a scanner of the relay host. Behind a proxy, `trustProxy` names the proxy's
 * CIDRs: only a request from there has its client address taken from `X-Forwarded-For` (the
 * rightmost address not in those CIDRs) or `Forwarded: for=`. Answers carry no CORS headers. Give it `dialFrom` addresses the client never talks to: a dial-back from the very
 * address the client just contacted also passes an address-restricted NAT filter, so clients
 * treat such a success as weaker evidence (the answer's `dialed_from` tells them which it was).
 * Requests are rate-limited per source (IPv6 per /64; fixed window, refuse-when-full, from
 * src/rate-limit.ts), dials are bounded in number and time, bodies in size.
 */
import type { IncomingMessage } from 'node:http'
import ipaddr from 'ipaddr.js'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { parseJsonObject, readBody } from '../../src/http/read-body.ts'
import type { ExtensionRoute, ExtensionRouteContext, RouteReply } from '../../src/http/route.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { createFixedWindowLimiter, rateLimitSource } from '../../src/rate-limit.ts'
import { describeRange, tryParseIp, type ParsedIp } from '../net/addr.ts'
import { DIALBACK_PATH, createLingering, dialBack } from './dialback.ts'

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
/** Dial-back answers are never cached. */
const NO_STORE = { 'cache-control': 'no-store' }

/** Options for {@link createDialbackRoute} and `createReflectorServer`. */
export interface ReflectorOptions {
  /** Deadline of one dial-back. @default 2000 */
  dialTimeoutMs?: number
  /** Dial-backs in flight at once; more get 503. @default 32 */
  maxConcurrentDials?: number
  /** Requests per source (IPv4 address or IPv6 /64) per window; more get 429; 0 turns the limit off. @default 10 */
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
  /** Also dial non-global addresses (loopback, private, CGNAT, link-local, …): labs and loopback tests only. @default false */
  allowPrivate?: boolean
  /** CIDRs of trusted reverse proxies: only requests from them have their client address taken from X-Forwarded-For / Forwarded. @default [] */
  trustProxy?: string[]
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

/** The dial-back route: an {@link ExtensionRoute} (mount it on the relay's HTTP front) that owns dial-backs in flight. */
export interface DialbackRoute extends ExtensionRoute {
  /** HTTP method. */
  method: 'POST'
  /** Path. */
  path: typeof DIALBACK_PATH
  /** No CORS: a web page must not make its visitors' browsers run dial-backs. */
  cors: false
  /** Aborts in-flight dial-backs and ends lingering dial-back sockets (for shutdown). Idempotent. */
  close: () => void
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number]

function parseCidrs (list: string[]): Cidr[] {
  return list.map(text => {
    try {
      return ipaddr.parseCIDR(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`)
    } catch {
      throw new ToolkitError(ErrorCode.InvalidAddress, `trustProxy: not a CIDR: "${text}"`)
    }
  })
}

function inCidrs (ip: ParsedIp, cidrs: Cidr[]): boolean {
  const addr = ipaddr.parse(ip.address)
  return cidrs.some(([base, bits]) => base.kind() === addr.kind() && addr.match(base, bits))
}

/** Addresses a forwarding header names, nearest proxy last (`X-Forwarded-For: a, b`; `Forwarded: for=a, for="[b]:1"`). */
function forwardedChain (req: IncomingMessage): string[] {
  const forwarded = req.headers.forwarded
  if (typeof forwarded === 'string' && forwarded !== '') {
    const out: string[] = []
    for (const m of forwarded.matchAll(/for=("[^"]*"|[^;,\s]*)/gi)) {
      let v = (m[1] ?? '').replace(/^"|"$/g, '')
      if (v.startsWith('[')) v = v.slice(1, v.indexOf(']'))
      else if (/^[^:]*:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(':'))
      out.push(v)
    }
    return out
  }
  const xff = req.headers['x-forwarded-for']
  const text = Array.isArray(xff) ? xff.join(',') : (xff ?? '')
  return text.split(',').map(x => x.trim()).filter(x => x !== '')
}

/** The client address: the TCP peer, or behind a trusted proxy the rightmost forwarded address that is not a trusted proxy. */
function clientAddress (req: IncomingMessage, trusted: Cidr[]): ParsedIp | undefined {
  const peer = tryParseIp(req.socket.remoteAddress)
  if (peer === undefined || trusted.length === 0 || !inCidrs(peer, trusted)) return peer
  const chain = forwardedChain(req).map(x => tryParseIp(x))
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i]
    if (hop === undefined) return undefined
    if (!inCidrs(hop, trusted)) return hop
  }
  return peer
}

/** Shortest connect attempt a client may ask for (`timeout_ms`). */
const MIN_CLIENT_DIAL_TIMEOUT_MS = 200

function parseRequest (body: Buffer): { port: number, nonce: string, timeoutMs?: number } {
  const { port, nonce, protocol, timeout_ms: timeoutMs } = parseJsonObject(body)
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new ToolkitError(ErrorCode.BadRequest, '"port" must be an integer 1-65535')
  if (typeof nonce !== 'string' || !/^[0-9a-fA-F]{16,128}$/.test(nonce)) throw new ToolkitError(ErrorCode.BadRequest, '"nonce" must be 16-128 hex characters')
  if (protocol !== undefined && protocol !== 'tcp') throw new ToolkitError(ErrorCode.BadRequest, '"protocol" must be "tcp"')
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < MIN_CLIENT_DIAL_TIMEOUT_MS)) {
    throw new ToolkitError(ErrorCode.BadRequest, `"timeout_ms" must be an integer >= ${MIN_CLIENT_DIAL_TIMEOUT_MS}`)
  }
  return { port, nonce: nonce.toLowerCase(), ...(timeoutMs === undefined ? {} : { timeoutMs }) }
}

/**
 * Creates the dial-back route, an extension route for the relay's HTTP front.
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
  const dialFrom = new Map<4 | 6, string>()
  for (const a of options.dialFrom ?? []) {
    const ip = tryParseIp(a)
    if (ip === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `dialFrom: not an IP address: "${a}"`)
    if (!dialFrom.has(ip.family)) dialFrom.set(ip.family, ip.address)
  }
  const allowPrivate = options.allowPrivate === true
  const trusted = parseCidrs(options.trustProxy ?? [])
  // A live window is never forgotten (that would hand its source a fresh quota): refuse when full.
  const limiter = createFixedWindowLimiter({ limit, windowMs, maxKeys: options.maxTrackedSources ?? MAX_TRACKED_SOURCES, whenFull: 'refuse' })
  const shutdown = new AbortController()
  const lingering = createLingering()
  let active = 0

  const handler = async (req: IncomingMessage, reply: RouteReply, context: ExtensionRouteContext): Promise<void> => {
    if (req.method !== 'POST') {
      reply.error(405, 'method_not_allowed', 'use POST', { ...NO_STORE, allow: 'POST' })
      return
    }
    const observed = clientAddress(req, trusted)
    if (observed === undefined) {
      reply.error(400, 'bad_request', 'client address unknown (unparsable forwarding header)', NO_STORE)
      return
    }
    if (!allowPrivate && (observed.range !== 'global' || observed.address === tryParseIp(req.socket.localAddress)?.address)) {
      const why = observed.range === 'global' ? 'this server\'s own address' : describeRange(observed.address)
      log.debug({ peer: observed.address }, 'dial-back refused: not a global address')
      reply.error(403, 'not_global', `the reflector dials only global unicast addresses; ${observed.address} is ${why}`, NO_STORE)
      return
    }
    const verdict = limiter.hit(rateLimitSource(observed.address), performance.now())
    if (!verdict.allowed) {
      log.debug({ peer: observed.address }, 'dial-back rate limited')
      if (verdict.reason === 'table_full') reply.error(503, 'busy', 'too many sources', NO_STORE)
      else reply.error(429, 'rate_limited', `at most ${limit} requests per ${windowMs / 1000} s`, { ...NO_STORE, 'retry-after': String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))) })
      return
    }
    const signal = AbortSignal.any([context.signal, shutdown.signal])
    let request: { port: number, nonce: string, timeoutMs?: number }
    try {
      request = parseRequest(await readBody(req, MAX_DIALBACK_BODY_BYTES, signal))
    } catch (err) {
      const tooLarge = err instanceof ToolkitError && err.code === ErrorCode.BodyTooLarge
      reply.error(tooLarge ? 413 : 400, tooLarge ? 'body_too_large' : 'bad_request', errorMessage(err), tooLarge ? { ...NO_STORE, connection: 'close' } : NO_STORE)
      return
    }
    if (active >= maxDials) {
      reply.error(503, 'busy', 'too many dial-backs in flight', { ...NO_STORE, 'retry-after': '1' })
      return
    }
    active++
    let result
    try {
      result = await dialBack(observed.address, request.port, request.nonce, Math.min(dialTimeout, request.timeoutMs ?? dialTimeout), dialFrom.get(observed.family), signal, lingering)
    } finally {
      active--
    }
    log.info({ peer: observed.address, port: request.port, reachable: result.ok, error: result.error }, 'dial-back')
    const answer: DialbackAnswer = { reachable: result.ok, observed_address: observed.address, port: request.port, latency_ms: result.latencyMs, dialed_from: result.from }
    if (result.error !== undefined) answer.error = result.error
    reply.json(200, answer, NO_STORE)
  }

  return {
    method: 'POST',
    path: DIALBACK_PATH,
    cors: false,
    handler,
    close: () => {
      shutdown.abort()
      lingering.closeAll()
    }
  }
}
