/**
 * Dial-back reflector client: listen on a port, ask a reflector to connect back to this host's
 * observed address on that port, and count the port as reachable only when **our** listener
 * received **our** nonce. A lying reflector, or another host answering on that address and
 * port, therefore cannot produce a "reachable".
 */
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { deadline, sleep, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { httpRequest } from '../../src/http/request.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { DIALBACK_GREETING, DIALBACK_PATH } from './dialback.ts'
import { readGreeting } from './greeting.ts'

/** Default deadline of one reachability check. */
const REACHABILITY_TIMEOUT_MS = 3000
/** How long to wait for the nonce after the reflector answered "reachable". */
const NONCE_GRACE_MS = 500

/** Options for {@link verifyReachability}. */
export interface VerifyReachabilityOptions {
  /** Reflector base URL (`http://host:port`) or the full dial-back URL. */
  reflector: string
  /** Port to test; 0 listens on an ephemeral port and tests that. */
  port: number
  /** Listen address. @default '::' (dual stack), falling back to '0.0.0.0' */
  listenHost?: string
  /** Listen on IPv6 only (so an IPv4 check can use the same port at the same time). @default false */
  ipv6Only?: boolean
  /** Address family for the reflector request (decides which of our addresses it observes). */
  family?: 4 | 6
  /** Local address for the reflector request. */
  localAddress?: string
  /** Deadline of the whole check. @default 3000 */
  timeoutMs?: number
  /** Wait for the nonce this long after a "reachable" answer. @default 500 */
  nonceGraceMs?: number
  /** Ask the reflector to give up its connect attempt after this long (it may use less, never more than its own limit). @default the reflector's own (2000) */
  dialTimeoutMs?: number
  /** Cancels the check (rejects with ERR_ABORTED). */
  signal?: AbortSignal
  /**
   * The port is already served by a running listener (a worker's HTTP front): the check opens no
   * listener of its own, `port` is the port the reflector dials (a mapping's external port), and
   * `awaitGreeting(line, signal)` resolves with the peer address once that greeting line reached
   * the serving listener (it is abandoned through `signal` when the check ends).
   */
  awaitGreeting?: (line: string, signal: AbortSignal) => Promise<string>
}

/** Result of one check (the probe's `reachability_checks[]` entry). */
export interface ReachabilityCheck {
  /** Reflector URL asked. */
  reflector: string
  /** `host:port` the reflector dialed (its observed address), when known. */
  target: string | null
  /** Family of the observed address. */
  family: 4 | 6 | null
  /** Port tested. */
  port: number
  /** Verified: the reflector connected **and** our listener received our nonce. */
  reachable: boolean
  /** What the reflector claimed; null when it gave no answer. */
  reflector_reachable: boolean | null
  /** Our listener received the nonce. */
  nonce_verified: boolean
  /** Our address as the reflector saw it. */
  observed_address: string | null
  /** Connect latency the reflector measured. */
  latency_ms: number | null
  /** The reflector address we sent the request to. */
  reflector_address: string | null
  /** The address the reflector says it dialed back from; null when it did not say (older reflectors) or could not connect. */
  dialed_from: string | null
  /** Why not reachable, or why the check failed. */
  error: string | null
}

function dialbackUrl (reflector: string): URL {
  let url: URL
  try {
    url = new URL(reflector)
  } catch {
    throw new ToolkitError(ErrorCode.InvalidConfig, `reflector must be an http(s) URL, got "${reflector}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolkitError(ErrorCode.InvalidConfig, `reflector must be an http(s) URL, got "${reflector}"`)
  if (!url.pathname.endsWith(DIALBACK_PATH)) url.pathname = url.pathname.replace(/\/+$/, '') + DIALBACK_PATH
  return url
}

/** A temporary listener that records whether the expected greeting arrived. */
async function listenForNonce (port: number, host: string | undefined, ipv6Only: boolean, expected: string): Promise<{ server: Server, port: number, arrived: Promise<string>, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let onArrive: ((from: string) => void) | undefined
  const arrived = new Promise<string>(resolve => { onArrive = resolve })
  const server = createServer(socket => {
    readGreeting(socket, sockets, (line, from) => { if (line === expected) onArrive?.(from) })
  })
  server.maxConnections = 16
  let bound: AddressInfo
  try {
    bound = await listenTcp(server, { port, ipv6Only, host: host ?? '::' })
  } catch (err) {
    if (host !== undefined || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err
    bound = await listenTcp(server, { port, ipv6Only, host: '0.0.0.0' })
  }
  server.on('error', () => undefined)
  return {
    server,
    port: bound.port,
    arrived,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

/** The listener stand-in for a port someone else serves: waits for the greeting through `awaitGreeting`. */
function servedListener (port: number, line: string, awaitGreeting: (line: string, signal: AbortSignal) => Promise<string>): { port: number, arrived: Promise<string>, close: () => Promise<void> } {
  const stop = new AbortController()
  const arrived = awaitGreeting(line, stop.signal).catch(async () => await new Promise<string>(() => {}))
  return { port, arrived, close: async () => { stop.abort(); await Promise.resolve() } }
}

/** The message of an `{"error":{"code","message"}}` body (empty when the body has another shape). */
function errorBodyMessage (body: Record<string, unknown>): string {
  const e = body.error
  if (typeof e !== 'object' || e === null) return ''
  const { code, message } = e as Record<string, unknown>
  return typeof message === 'string' ? message : (typeof code === 'string' ? code : '')
}

/**
 * Checks inbound TCP reachability of `port` through a dial-back reflector. Resolves with a
 * result in every case except cancellation (and invalid options), so a probe can report it.
 *
 * @example
 * ```ts
 * const r = await verifyReachability({ reflector: 'https://relay.example/', port: 9484 })
 * if (r.reachable) console.log(`reachable at ${r.target}`)
 * ```
 */
export async function verifyReachability (options: VerifyReachabilityOptions): Promise<ReachabilityCheck> {
  throwIfAborted(options.signal, 'reachability check')
  const url = dialbackUrl(options.reflector)
  const nonce = randomBytes(16).toString('hex')
  const result: ReachabilityCheck = {
    reflector: url.href, target: null, family: null, port: options.port, reachable: false,
    reflector_reachable: null, nonce_verified: false, observed_address: null, latency_ms: null,
    reflector_address: null, dialed_from: null, error: null
  }
  let listener: Pick<Awaited<ReturnType<typeof listenForNonce>>, 'port' | 'arrived' | 'close'>
  try {
    listener = options.awaitGreeting === undefined
      ? await listenForNonce(options.port, options.listenHost, options.ipv6Only === true, `${DIALBACK_GREETING} ${nonce}`)
      : servedListener(options.port, `${DIALBACK_GREETING} ${nonce}`, options.awaitGreeting)
  } catch (err) {
    result.error = `cannot listen on port ${options.port}: ${errorMessage(err)}`
    return result
  }
  result.port = listener.port
  let nonceFrom: string | undefined
  void listener.arrived.then(from => { nonceFrom = from })
  const timeoutMs = options.timeoutMs ?? REACHABILITY_TIMEOUT_MS
  const dl = deadline(timeoutMs, options.signal, ErrorCode.Reflector, `reflector did not answer within ${timeoutMs} ms`)
  try {
    const res = await httpRequest({
      url,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ port: listener.port, nonce, protocol: 'tcp', ...(options.dialTimeoutMs === undefined ? {} : { timeout_ms: Math.round(options.dialTimeoutMs) }) }),
      maxBodyBytes: 16 * 1024,
      signal: dl.signal,
      errorCode: ErrorCode.Reflector,
      ...(options.family === undefined ? {} : { family: options.family }),
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
    })
    let body: Record<string, unknown> = {}
    try {
      const parsed: unknown = JSON.parse(res.body.toString('utf8'))
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
    } catch {
      throw new ToolkitError(ErrorCode.Reflector, `reflector answered HTTP ${res.status} without JSON`)
    }
    if (res.status === 429) throw new ToolkitError(ErrorCode.ReflectorRateLimited, `reflector rate limit (retry after ${String(res.headers['retry-after'] ?? '?')} s)`)
    if (res.status !== 200) throw new ToolkitError(ErrorCode.Reflector, `reflector answered HTTP ${res.status}: ${errorBodyMessage(body)}`)
    const observed = typeof body.observed_address === 'string' ? tryParseIp(body.observed_address) : undefined
    if (typeof body.reachable !== 'boolean' || observed === undefined) throw new ToolkitError(ErrorCode.Reflector, 'reflector answer lacks "reachable" or "observed_address"')
    result.reflector_reachable = body.reachable
    result.observed_address = observed.address
    result.family = observed.family
    result.target = formatHostPort(observed.address, listener.port)
    result.latency_ms = typeof body.latency_ms === 'number' ? body.latency_ms : null
    result.reflector_address = tryParseIp(res.remoteAddress)?.address ?? null
    result.dialed_from = typeof body.dialed_from === 'string' ? (tryParseIp(body.dialed_from)?.address ?? null) : null
    if (body.reachable) {
      // The greeting was written before the answer; give the bytes a moment to arrive.
      const stop = new AbortController()
      try {
        const pause = sleep(options.nonceGraceMs ?? NONCE_GRACE_MS, AbortSignal.any([dl.signal, stop.signal])).catch(() => undefined)
        await Promise.race([listener.arrived, pause])
      } finally {
        stop.abort()
      }
    }
    result.nonce_verified = nonceFrom !== undefined
    result.reachable = body.reachable && result.nonce_verified
    if (!body.reachable) result.error = typeof body.error === 'string' ? body.error : 'not reachable'
    else if (!result.nonce_verified) result.error = 'reflector claimed reachable but the nonce never reached our listener'
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    result.error = errorMessage(err)
  } finally {
    dl.clear()
    await listener.close()
  }
  return result
}
