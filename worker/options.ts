/**
 * The relay worker's public types (options, handler, events) and the validation that turns
 * user options into a complete, checked configuration.
 */
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import {
  BACKEND_TIMEOUT_MS, CONNECT_TIMEOUT_MS, DIRECTORY_TIMEOUT_MS, FORWARD_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, IDLE_TIMEOUT_MS,
  PING_INTERVAL_MS, RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS, STOP_GRACE_MS, WORKER_MAX_CONCURRENT
} from '../src/limits.ts'
import type { Logger } from '../src/log.ts'
import type { WorkerTransportOptions } from './transports/dialer.ts'
import { formatHostPort, unbracketHost } from '../src/host-port.ts'
import type { RelayEntry } from './relay-list.ts'

/** What a task handler gets besides the task itself. */
export interface TaskContext {
  /** The relay's call id (key 15 of the CALL), a UUIDv4 string. */
  callId: string
  /** Fires when the task must stop: task timeout, session lost, or worker stop after its grace period. */
  signal: AbortSignal
}

/**
 * Runs one task. `task` is the JSON task object the consumer posted to the relay. The return
 * value is JSON-encoded as the RESPONSE body as is; the convention is `{"result": …}`. A throw
 * or rejection answers `{"error": "<message>"}`.
 */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- spelled out: sync or async handlers
export type TaskHandler = (task: Task, ctx: TaskContext) => Promise<unknown> | unknown

/** A task as the consumer posted it: a JSON object, by IICP convention with `task_id`, `intent` and `payload`. */
export interface Task {
  task_id?: string
  intent?: string
  payload?: unknown
  [key: string]: unknown
}

/**
 * What a handler conventionally returns: `{ result }`, or `{ error }` to report a failure
 * (the relay turns it into HTTP 500). Any other JSON object is sent as it is.
 */
export type TaskAnswer = { result: unknown } | { error: string }

/** Where the worker fetches a fresh bind ticket before every bind (spec §3.3). */
export interface TicketDirectoryOptions {
  /** Directory base URL; the worker POSTs `{url}/v1/relay/ticket`. */
  url: string
  /** The worker's directory node token, sent as `Authorization: Bearer <token>`. */
  nodeToken: string
  /** The relay's node id, sent as `{"relay_node_id": …}`; the body is `{}` without it. */
  relayNodeId?: string
}

/** Directory re-registration after each bind (spec §5.3). */
export interface RegisterOptions {
  /** Directory base URL; the worker POSTs `{directoryUrl}/v1/register`. */
  directoryUrl: string
  /** The worker's current node token, sent as `current_node_token` (the IICP-E050 ownership proof). */
  nodeToken: string
  /** The rest of the register payload (capabilities, region, limits, …); relay fields are set over it. */
  payload?: Record<string, unknown>
}

/** Reconnect back-off: doubling from `minDelayMs` up to `maxDelayMs`, each delay multiplied by a random 1–2. */
export interface ReconnectOptions {
  /** First delay. @default 2_000 */
  minDelayMs?: number
  /** Largest delay. @default 20_000 */
  maxDelayMs?: number
}

/** Options for {@link createWorker}. Give exactly one of `handler` and `backendUrl`. */
export interface WorkerOptions {
  /** Relay host (name or IP) to dial. */
  relayHost: string
  /** Relay-accept port (upstream default 9485). */
  relayPort: number
  /**
   * The relays of a fleet (relayHost:relayPort is then only a label): each attempt dials the next
   * one of this worker's own random order of them, every address of a name counted, so the
   * worker starts at a random relay, fails over when its relay dies, and spreads with the others.
   */
  relays?: RelayEntry[]
  /** Worker id bound at the relay; it becomes the path segment of `/v1/relay-for/{workerId}`. */
  workerId: string
  /** Intent URN sent in RELAY_BIND key 2. @default '' */
  intent?: string
  /** Models sent in RELAY_BIND key 3. @default [] */
  models?: string[]
  /** Runs tasks in process. */
  handler?: TaskHandler
  /** Runs tasks on a local HTTP backend: `POST {backendUrl}/v1/task`. */
  backendUrl?: string
  /** Timeout of one backend request. @default 120_000 */
  backendTimeoutMs?: number
  /** A static bind ticket, sent on every bind. */
  ticket?: string
  /** Fetch a fresh bind ticket from the directory before every bind (a failed fetch binds without one). */
  ticketDirectory?: TicketDirectoryOptions
  /** Re-register with the directory after each bind; failures are logged, never fatal. */
  register?: RegisterOptions
  /** Timeout of one directory request (ticket fetch, re-registration). @default 10_000 */
  directoryTimeoutMs?: number
  /** Tasks running at once. @default 64 */
  maxConcurrent?: number
  /** CALLs waiting for a free slot; beyond this a CALL is answered `{"error":"worker at capacity"}`. @default 256 */
  maxQueued?: number
  /** Deadline of one task once started; then its signal fires and it is answered with an error. @default 120_000 */
  taskTimeoutMs?: number
  /** TCP connect deadline. @default 10_000 */
  connectTimeoutMs?: number
  /** Deadline for ACK after INIT, and again for RELAY_ACK after RELAY_BIND. @default 10_000 */
  handshakeTimeoutMs?: number
  /** Keepalive PING interval once bound. @default 30_000 */
  pingIntervalMs?: number
  /** No frame from the relay for this long means the relay is dead: reconnect. @default 90_000 */
  idleTimeoutMs?: number
  /** Reconnect back-off. */
  reconnect?: ReconnectOptions
  /** How long `stop()` lets in-flight tasks finish before aborting them. @default 5_000 */
  stopGraceMs?: number
  /**
   * Direct paths: answer consumers' connect offers (ICE, see worker/direct/). A direct path reveals
   * this host's addresses to the consumer; `false` keeps the worker relay-only. @default true
   */
  direct?: boolean
  /** Most concurrent direct peers. @default 64 */
  maxDirectPeers?: number
  /** Bind the ICE agent to one local address (tests on loopback). */
  directBindAddress?: string
  /**
   * TLS (`iicpsec://`), WebSocket (`wss://`), long-poll (`https://`) or `auto` (TCP, then WSS on
   * 443, then long-poll); without it the worker dials `relayHost:relayPort` over plain TCP.
   * `relayHost`/`relayPort` still name the relay in logs and bind info.
   */
  transport?: WorkerTransportOptions
  /** Called after every successful bind; errors are logged and ignored. */
  onBind?: (info: BindInfo) => void | Promise<void>
  /** Called once when a bound session ends; errors are logged and ignored. */
  onDisconnect?: (info: DisconnectInfo) => void | Promise<void>
  /** Logger. @default silentLogger() */
  logger?: Logger
  /** Aborting it stops the worker, like `stop()`. */
  signal?: AbortSignal
}

/** Where the worker is reachable after a bind. */
export interface BindInfo {
  /** The relay host the worker dialled. */
  relayHost: string
  /** The relay's HTTP port: RELAY_ACK key 4, or 9484 when absent. */
  relayHttpPort: number
  /** The bound worker id. */
  workerId: string
  /** The path-scoped endpoint consumers call: `http://{relayHost}:{relayHttpPort}/v1/relay-for/{workerId}`. */
  endpoint: string
}

/** Why a bound session ended. */
export type DisconnectReason = 'close' | 'eof' | 'idle' | 'error' | 'stopped'

/** Passed to `onDisconnect` and the `disconnect` event. */
export interface DisconnectInfo {
  /** `close`: the relay sent CLOSE; `eof`: the relay closed the socket; `idle`: no frame within the idle timeout; `error`: socket or protocol error; `stopped`: local stop. */
  reason: DisconnectReason
  /** The error behind `error` and `idle`. */
  error?: ToolkitError
}

/** A failed or ended session and the wait before the next attempt. */
export interface BackoffInfo {
  /** Failed attempts in a row (0 after a bound session ended). */
  attempt: number
  /** Milliseconds until the next attempt. */
  delayMs: number
  /** Why the attempt failed (absent after a bound session ended). */
  error?: ToolkitError
}

/** Worker lifecycle states. */
export type WorkerState = 'idle' | 'connecting' | 'bound' | 'backoff' | 'stopping' | 'stopped'

/** Options after defaults and validation. */
export interface ResolvedWorkerOptions {
  relayHost: string
  relayPort: number
  relays: RelayEntry[] | undefined
  workerId: string
  intent: string
  models: string[]
  handler: TaskHandler | undefined
  backendUrl: URL | undefined
  backendTimeoutMs: number
  ticket: string | undefined
  ticketDirectory: TicketDirectoryOptions | undefined
  register: RegisterOptions | undefined
  directoryTimeoutMs: number
  maxConcurrent: number
  maxQueued: number
  taskTimeoutMs: number
  connectTimeoutMs: number
  handshakeTimeoutMs: number
  pingIntervalMs: number
  idleTimeoutMs: number
  minDelayMs: number
  maxDelayMs: number
  stopGraceMs: number
  transport: WorkerTransportOptions | undefined
  direct: boolean
  maxDirectPeers: number
  directBindAddress: string | undefined
}

/** Default for {@link WorkerOptions.maxQueued}. */
export const DEFAULT_MAX_QUEUED = 256
/** Default for {@link WorkerOptions.maxDirectPeers}. */
export const DEFAULT_MAX_DIRECT_PEERS = 64

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.InvalidConfig, message)
}

function positiveInt (name: string, value: number | undefined, fallback: number, allowZero = false): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw invalid(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`)
  return v
}

function httpUrl (name: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid(`${name} is not a URL: "${value}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${name} must be an http(s) URL, got "${value}"`)
  return url
}

function resolveRelays (relays: RelayEntry[] | undefined): RelayEntry[] | undefined {
  if (relays === undefined) return undefined
  if (relays.length === 0) throw invalid('relays must list at least one relay')
  for (const r of relays) {
    if (typeof r.host !== 'string' || r.host === '' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw invalid(`relays entry must be a host and a port 1-65535, got ${JSON.stringify(r)}`)
  }
  return relays.map(r => ({ host: r.host, port: r.port }))
}

/** Checks options and fills defaults. Throws ERR_INVALID_CONFIG. */
export function resolveWorkerOptions (o: WorkerOptions): ResolvedWorkerOptions {
  if (typeof o.relayHost !== 'string' || o.relayHost === '') throw invalid('relayHost is required')
  if (!Number.isInteger(o.relayPort) || o.relayPort < 1 || o.relayPort > 65535) throw invalid(`relayPort must be 1-65535, got ${String(o.relayPort)}`)
  if (typeof o.workerId !== 'string' || o.workerId === '') throw invalid('workerId is required')
  // The relay takes the third path segment of /v1/relay-for/{wid} verbatim (spec §4.3).
  if (/[/%?#\s]/.test(o.workerId)) throw invalid(`workerId must not contain "/", "%", "?", "#" or whitespace, got "${o.workerId}"`)
  if ((o.handler === undefined) === (o.backendUrl === undefined)) throw invalid('give exactly one of handler and backendUrl')
  if (o.ticket !== undefined && o.ticketDirectory !== undefined) throw invalid('give at most one of ticket and ticketDirectory')
  if (o.ticketDirectory !== undefined) {
    httpUrl('ticketDirectory.url', o.ticketDirectory.url)
    if (o.ticketDirectory.nodeToken === '') throw invalid('ticketDirectory.nodeToken is required')
  }
  if (o.register !== undefined) {
    httpUrl('register.directoryUrl', o.register.directoryUrl)
    if (o.register.nodeToken === '') throw invalid('register.nodeToken is required')
  }
  const minDelayMs = positiveInt('reconnect.minDelayMs', o.reconnect?.minDelayMs, RECONNECT_MIN_DELAY_MS)
  const maxDelayMs = positiveInt('reconnect.maxDelayMs', o.reconnect?.maxDelayMs, RECONNECT_MAX_DELAY_MS)
  if (maxDelayMs < minDelayMs) throw invalid('reconnect.maxDelayMs must be at least reconnect.minDelayMs')
  return {
    relayHost: o.relayHost,
    relayPort: o.relayPort,
    relays: resolveRelays(o.relays),
    workerId: o.workerId,
    intent: o.intent ?? '',
    models: [...(o.models ?? [])],
    handler: o.handler,
    backendUrl: o.backendUrl === undefined ? undefined : httpUrl('backendUrl', o.backendUrl),
    backendTimeoutMs: positiveInt('backendTimeoutMs', o.backendTimeoutMs, BACKEND_TIMEOUT_MS),
    ticket: o.ticket === '' ? undefined : o.ticket,
    ticketDirectory: o.ticketDirectory,
    register: o.register,
    directoryTimeoutMs: positiveInt('directoryTimeoutMs', o.directoryTimeoutMs, DIRECTORY_TIMEOUT_MS),
    maxConcurrent: positiveInt('maxConcurrent', o.maxConcurrent, WORKER_MAX_CONCURRENT),
    maxQueued: positiveInt('maxQueued', o.maxQueued, DEFAULT_MAX_QUEUED, true),
    taskTimeoutMs: positiveInt('taskTimeoutMs', o.taskTimeoutMs, FORWARD_TIMEOUT_MS),
    connectTimeoutMs: positiveInt('connectTimeoutMs', o.connectTimeoutMs, CONNECT_TIMEOUT_MS),
    handshakeTimeoutMs: positiveInt('handshakeTimeoutMs', o.handshakeTimeoutMs, HANDSHAKE_TIMEOUT_MS),
    pingIntervalMs: positiveInt('pingIntervalMs', o.pingIntervalMs, PING_INTERVAL_MS),
    idleTimeoutMs: positiveInt('idleTimeoutMs', o.idleTimeoutMs, IDLE_TIMEOUT_MS),
    minDelayMs,
    maxDelayMs,
    stopGraceMs: positiveInt('stopGraceMs', o.stopGraceMs, STOP_GRACE_MS, true),
    transport: o.transport,
    direct: o.direct !== false,
    maxDirectPeers: positiveInt('maxDirectPeers', o.maxDirectPeers, DEFAULT_MAX_DIRECT_PEERS),
    directBindAddress: o.directBindAddress
  }
}

/** `http://{host}:{port}/v1/relay-for/{workerId}`, with an IPv6 host in brackets. */
export function relayForEndpoint (relayHost: string, relayHttpPort: number, workerId: string): string {
  return `http://${formatHostPort(unbracketHost(relayHost), relayHttpPort)}/v1/relay-for/${workerId}`
}
