/**
 * Relay options: the public {@link RelayOptions} with their defaults, and their validation
 * into a fully resolved form the relay's parts share.
 */
import { totalmem } from 'node:os'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import type { ExtensionRoute } from '../src/http/route.ts'
import {
  BIND_RATE_LIMIT, BIND_RATE_WINDOW_MS, DEFAULT_RELAY_ACCEPT_PORT, DEFAULT_RELAY_HTTP_PORT, FORWARD_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS, IDLE_TIMEOUT_MS, MAX_CALLS_IN_FLIGHT_PER_SESSION, MAX_PENDING_CONNECTIONS,
  MAX_PENDING_CONNECTIONS_PER_IP, MAX_REQUEST_BODY_BYTES, MAX_SESSIONS, MAX_HTTP_CONNECTIONS, HTTP_HEADERS_TIMEOUT_MS,
  HTTP_REQUEST_TIMEOUT_MS, FRAME_GRACE_MS, INBOUND_BUDGET_MEMORY_FRACTION, MAX_DEFAULT_INBOUND_BUDGET_BYTES,
  MIN_FRAME_BYTES_PER_SECOND, MIN_INBOUND_BUDGET_BYTES
} from '../src/limits.ts'
import { silentLogger, type Logger } from '../src/log.ts'
import { bindTicketPublicKey } from '../src/protocol/bind-ticket.ts'
import { resolveTransportOptions, type RelayTransportOptions, type ResolvedRelayTransportOptions } from './transports/options.ts'
import type { RelayFleet } from './fleet-plugin.ts'

/** Options for {@link createRelay}. All are optional. */
export interface RelayOptions extends RelayTransportOptions {
  /** Address both listeners bind to. @default '0.0.0.0' */
  host?: string
  /** HTTP front port; 0 picks an ephemeral port. @default 9484 */
  httpPort?: number
  /** Relay-accept (worker) port; 0 picks an ephemeral port. @default 9485 */
  relayPort?: number
  /** HTTP port announced to workers in RELAY_ACK key 4 (set it when a proxy or NAT maps the port). @default the bound HTTP port */
  advertisedHttpPort?: number
  /**
   * This relay's node id, the audience of bind tickets: tickets whose `aud` is `"*"` or equal to
   * this id are accepted. With the default `'*'` only tickets addressed to any relay (`aud:"*"`)
   * are accepted, as upstream relays started without `IICP_NODE_ID` behave.
   * @default '*'
   */
  nodeId?: string
  /** Strict mode: every bind needs a ticket that verifies against {@link RelayOptions.ticketPublicKey}. @default false */
  requireTicket?: boolean
  /** The directory's Ed25519 public key (64 hex) that signs bind tickets. Without it no ticket can pass strict mode. */
  ticketPublicKey?: string
  /** Most bound sessions; new worker ids beyond it get "relay at session capacity". @default 10000 */
  maxSessions?: number
  /**
   * New-worker binds per source IP per window; 0 disables. Attempts that pass the ticket and
   * alive checks count, even when refused (by this limit, capacity or replay); ticket refusals do not. @default 30
   */
  bindRateLimit?: number
  /** Bind rate-limit window, starting at an IP's first attempt. @default 60000 */
  bindRateWindowMs?: number
  /** How long a forwarded task may take before the caller gets 502 IICP-E031. @default 120000 */
  forwardTimeoutMs?: number
  /** INIT and RELAY_BIND must both arrive within this long after connect, else the connection is closed. @default 10000 */
  handshakeTimeoutMs?: number
  /** A bound session with no frame from the worker for this long is closed and removed. @default 90000 */
  idleTimeoutMs?: number
  /** How often the relay's one sweep timer checks handshake and idle deadlines. @default min(handshake, idle) / 4, within [10, 1000] ms */
  sweepIntervalMs?: number
  /** Calls (buffered or streamed) in flight per session; excess gets 429 IICP-E021. @default 256 */
  maxCallsInFlightPerSession?: number
  /** Connections still handshaking per source IP; excess is closed at once. @default 16 */
  maxPendingConnectionsPerIp?: number
  /** Connections still handshaking in total; excess is closed at once. @default 1024 */
  maxPendingConnections?: number
  /**
   * Bytes all workers' partial (not yet complete) frames may hold together. At three quarters
   * the relay stops reading from the sessions holding the most; beyond it, it drops them.
   * @default 1/16 of the machine's memory, within [32 MiB, 1 GiB] (256 MiB with 4 GiB)
   */
  maxInboundBufferedBytes?: number
  /** A frame must arrive at least this fast on average (after `frameGraceMs`), else its connection is closed. @default 65536 */
  minFrameBytesPerSecond?: number
  /** Time every inbound frame gets on top of its length at `minFrameBytesPerSecond`. @default 10000 */
  frameGraceMs?: number
  /** Largest HTTP request body; larger gets 413. @default 8 MiB */
  maxRequestBodyBytes?: number
  /** Open HTTP connections on the HTTP front; beyond it new connections are dropped at once. @default 10000 */
  maxHttpConnections?: number
  /** An HTTP client must send its request headers within this long, else 408 and close. @default 10000 */
  httpHeadersTimeoutMs?: number
  /** An HTTP client must send its whole request within this long, else 408 and close (the answer may take longer). @default 60000 */
  httpRequestTimeoutMs?: number
  /**
   * Answer task calls on plain HTTP (`POST /v1/relay-for/{wid}/v1/task` for a worker bound
   * here, in a strict subset of HTTP/1.1) on the relay's own fast path instead of node:http;
   * every other request, and every request outside the subset, is node:http's as before.
   * `iicp-relay --no-task-fast-path` sets it false. @default true
   */
  httpTaskFastPath?: boolean
  /** Logger (pino); children per session. @default a silent logger */
  logger?: Logger
  /** Unix-milliseconds clock used for ticket expiry and replay checks (tests). @default Date.now */
  now?: () => number
  /** Extra HTTP routes, matched by exact method and path before the built-in 404. @default [] */
  extraRoutes?: ExtensionRoute[]
  /** Serve `GET /metrics` on the HTTP front; false when the metrics are served elsewhere (`iicp-relay --metrics-port`). @default true */
  metricsOnHttpFront?: boolean
  /**
   * Join a fleet: share the session directory, the ticket replay cache and the bind rate limit
   * with other relays, and forward calls for workers bound elsewhere to their owner
   * (`createRedisFleet` from relay/fleet/). Without it the relay stands alone. @default none
   */
  fleet?: RelayFleet
}

/** {@link RelayOptions} with every default applied and validated. */
export interface ResolvedRelayOptions extends ResolvedRelayTransportOptions {
  host: string
  httpPort: number
  relayPort: number
  advertisedHttpPort: number | undefined
  nodeId: string
  requireTicket: boolean
  ticketPublicKey: string | undefined
  maxSessions: number
  bindRateLimit: number
  bindRateWindowMs: number
  forwardTimeoutMs: number
  handshakeTimeoutMs: number
  idleTimeoutMs: number
  sweepIntervalMs: number
  maxCallsInFlightPerSession: number
  maxPendingConnectionsPerIp: number
  maxPendingConnections: number
  maxInboundBufferedBytes: number
  minFrameBytesPerSecond: number
  frameGraceMs: number
  maxRequestBodyBytes: number
  maxHttpConnections: number
  httpHeadersTimeoutMs: number
  httpRequestTimeoutMs: number
  httpTaskFastPath: boolean
  logger: Logger
  now: () => number
  extraRoutes: ExtensionRoute[]
  metricsOnHttpFront: boolean
  fleet: RelayFleet | undefined
}

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.InvalidConfig, message)
}

function port (name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalid(`${name} must be an integer port 0-65535, got ${v}`)
  return v
}

function count (name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < min) throw invalid(`${name} must be an integer >= ${min}, got ${v}`)
  return v
}

/** The default inbound budget: a share of the machine's memory, clamped. */
function defaultInboundBudget (): number {
  const share = Math.floor(totalmem() * INBOUND_BUDGET_MEMORY_FRACTION)
  return Math.min(MAX_DEFAULT_INBOUND_BUDGET_BYTES, Math.max(MIN_INBOUND_BUDGET_BYTES, share))
}

/** Applies defaults and validates; throws ERR_INVALID_CONFIG. */
export function resolveRelayOptions (options: RelayOptions = {}): ResolvedRelayOptions {
  const handshakeTimeoutMs = count('handshakeTimeoutMs', options.handshakeTimeoutMs, HANDSHAKE_TIMEOUT_MS, 1)
  const idleTimeoutMs = count('idleTimeoutMs', options.idleTimeoutMs, IDLE_TIMEOUT_MS, 1)
  const defaultSweep = Math.min(1000, Math.max(10, Math.floor(Math.min(handshakeTimeoutMs, idleTimeoutMs) / 4)))
  const ticketPublicKey = options.ticketPublicKey === undefined || options.ticketPublicKey === '' ? undefined : options.ticketPublicKey
  if (ticketPublicKey !== undefined) bindTicketPublicKey(ticketPublicKey)
  const advertised = options.advertisedHttpPort === undefined ? undefined : port('advertisedHttpPort', options.advertisedHttpPort, 0)
  if (advertised === 0) throw invalid('advertisedHttpPort must be 1-65535')
  const nodeId = options.nodeId ?? '*'
  if (nodeId === '') throw invalid('nodeId must not be empty')
  for (const r of options.extraRoutes ?? []) {
    if (!r.path.startsWith('/')) throw invalid(`extra route path must start with "/", got "${r.path}"`)
  }
  return {
    host: options.host ?? '0.0.0.0',
    httpPort: port('httpPort', options.httpPort, DEFAULT_RELAY_HTTP_PORT),
    relayPort: port('relayPort', options.relayPort, DEFAULT_RELAY_ACCEPT_PORT),
    advertisedHttpPort: advertised,
    nodeId,
    requireTicket: options.requireTicket ?? false,
    ticketPublicKey,
    maxSessions: count('maxSessions', options.maxSessions, MAX_SESSIONS, 1),
    bindRateLimit: count('bindRateLimit', options.bindRateLimit, BIND_RATE_LIMIT, 0),
    bindRateWindowMs: count('bindRateWindowMs', options.bindRateWindowMs, BIND_RATE_WINDOW_MS, 1),
    forwardTimeoutMs: count('forwardTimeoutMs', options.forwardTimeoutMs, FORWARD_TIMEOUT_MS, 1),
    handshakeTimeoutMs,
    idleTimeoutMs,
    sweepIntervalMs: count('sweepIntervalMs', options.sweepIntervalMs, defaultSweep, 1),
    maxCallsInFlightPerSession: count('maxCallsInFlightPerSession', options.maxCallsInFlightPerSession, MAX_CALLS_IN_FLIGHT_PER_SESSION, 1),
    maxPendingConnectionsPerIp: count('maxPendingConnectionsPerIp', options.maxPendingConnectionsPerIp, MAX_PENDING_CONNECTIONS_PER_IP, 1),
    maxPendingConnections: count('maxPendingConnections', options.maxPendingConnections, MAX_PENDING_CONNECTIONS, 1),
    maxInboundBufferedBytes: count('maxInboundBufferedBytes', options.maxInboundBufferedBytes, defaultInboundBudget(), 1),
    minFrameBytesPerSecond: count('minFrameBytesPerSecond', options.minFrameBytesPerSecond, MIN_FRAME_BYTES_PER_SECOND, 1),
    frameGraceMs: count('frameGraceMs', options.frameGraceMs, FRAME_GRACE_MS, 1),
    maxRequestBodyBytes: count('maxRequestBodyBytes', options.maxRequestBodyBytes, MAX_REQUEST_BODY_BYTES, 1),
    maxHttpConnections: count('maxHttpConnections', options.maxHttpConnections, MAX_HTTP_CONNECTIONS, 1),
    httpHeadersTimeoutMs: count('httpHeadersTimeoutMs', options.httpHeadersTimeoutMs, HTTP_HEADERS_TIMEOUT_MS, 1),
    httpRequestTimeoutMs: count('httpRequestTimeoutMs', options.httpRequestTimeoutMs, HTTP_REQUEST_TIMEOUT_MS, 1),
    logger: options.logger ?? silentLogger(),
    now: options.now ?? Date.now,
    extraRoutes: [...(options.extraRoutes ?? [])],
    metricsOnHttpFront: options.metricsOnHttpFront ?? true,
    httpTaskFastPath: options.httpTaskFastPath ?? true,
    fleet: options.fleet,
    ...resolveTransportOptions(options, idleTimeoutMs)
  }
}
