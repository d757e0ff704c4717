/**
 * The relay-accept TCP listener (spec §3.1): the INIT → ACK → RELAY_BIND → RELAY_ACK
 * handshake, admission, and the hand-off of bound connections to {@link BoundWorkerSession}s.
 * Beyond upstream: the handshake has a deadline and a byte budget, unbound connections are
 * capped per IP and in total, and one sweep closes expired handshakes and idle sessions.
 */
import { createServer, type Server } from 'node:net'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { unwrapIPv4Mapped } from '../src/host-port.ts'
import { rateLimitSource } from '../src/rate-limit.ts'
import type { Logger } from '../src/log.ts'
import { MsgType, type Frame } from '../src/protocol/frame.ts'
import { encodeAck, encodeRelayAckError, encodeRelayAckOk, parseRelayBind, type RelayBind } from '../src/protocol/messages.ts'
import { FrameConnection, type ByteStream } from '../src/transport/frame-connection.ts'
import { InboundBudget } from '../src/transport/inbound-budget.ts'
import { admitBind, BIND_REJECT_REASONS, type AdmissionContext, type AdmissionResult } from './admission.ts'
import type { SessionDirectory } from './fleet-plugin.ts'
import type { BindOutcome, RelayMetrics } from './metrics.ts'
import type { ResolvedRelayOptions } from './options.ts'
import type { SessionRegistry } from './session-registry.ts'
import { BoundWorkerSession } from './session.ts'
import { CHUNKED_BODY_BYTES, LISTEN_BACKLOG } from '../src/limits.ts'
import { listenTcp } from '../src/transport/listen.ts'

/** Bytes a connection may send before it is bound (INIT plus a RELAY_BIND with ticket and models). */
const MAX_HANDSHAKE_BYTES = 64 * 1024
/** The handshake deadline while the pending table is more than half full. */
const PRESSURED_HANDSHAKE_TIMEOUT_MS = 2_000
/** TCP keepalive probe delay on worker sockets. */
const KEEPALIVE_DELAY_MS = 30_000
const ACK_FRAME = encodeAck()

type ConnState = 'init' | 'bind' | 'admitting' | 'closing' | 'bound'

/** How a worker reached the relay-accept server (the `transport` metrics label). */
export type RelayTransport = 'tcp' | 'tls' | 'ws' | 'wss' | 'long-poll'

/** One relay-port connection, from accept until it closes. */
interface Connection {
  readonly ip: string
  /** What the per-source pending cap counts: the IPv4 address, or the IPv6 /64. */
  readonly source: string
  readonly transport: RelayTransport
  readonly startedAt: number
  state: ConnState
  handshakeBytes: number
  counted: boolean
  readonly conn: FrameConnection
  session: BoundWorkerSession | undefined
}

/** What the accept server needs from the relay. */
export interface AcceptServerContext {
  options: ResolvedRelayOptions
  registry: SessionRegistry
  admission: AdmissionContext
  metrics: RelayMetrics
  logger: Logger
  /** The HTTP port announced in RELAY_ACK key 4. */
  advertisedHttpPort: () => number
  /** Observes every bind decision with the connection's transport (transport metrics). */
  onBind?: (outcome: BindOutcome, transport: RelayTransport) => void
  /** A fleet's session directory: a bind that passed admission must also win the fleet-wide claim. */
  directory?: SessionDirectory | undefined
}

/** The relay-accept listener and its handshaking connections. */
export class AcceptServer {
  readonly #ctx: AcceptServerContext
  readonly #server: Server
  readonly #pending = new Set<Connection>()
  readonly #pendingPerIp = new Map<string, number>()
  /** Bytes held in partial frames by every connection (handshaking or bound). */
  readonly #inbound: InboundBudget
  /** Worker ids with an admission in progress (a fleet's admission awaits shared state). */
  readonly #admitting = new Set<string>()
  #closing = false

  constructor (ctx: AcceptServerContext) {
    this.#ctx = ctx
    const { maxInboundBufferedBytes, minFrameBytesPerSecond, frameGraceMs } = ctx.options
    this.#inbound = new InboundBudget({ limitBytes: maxInboundBufferedBytes, minFrameBytesPerSecond, frameGraceMs })
    this.#server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS }, socket => { this.accept(socket, 'tcp') })
    this.#server.on('error', (err: NodeJS.ErrnoException) => { ctx.logger.error({ code: err.code, reason: err.message }, 'relay-accept listener error') })
  }

  /** Bytes held in partial inbound frames across all connections. */
  get inboundHeldBytes (): number {
    return this.#inbound.heldBytes
  }

  /** Connections accepted but not yet bound. */
  get pendingCount (): number {
    return this.#pending.size
  }

  /** Starts listening; resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    return (await listenTcp(this.#server, { host, port, backlog: LISTEN_BACKLOG })).port
  }

  /**
   * Closes handshakes past their deadline and sessions idle for too long (`now` is
   * performance.now()). While the pending table is more than half full the handshake deadline
   * shortens to {@link PRESSURED_HANDSHAKE_TIMEOUT_MS}: slots go to connections that make progress.
   */
  sweep (now: number): void {
    const { idleTimeoutMs, maxPendingConnections } = this.#ctx.options
    this.#inbound.sweep(now)
    const deadline = this.#pending.size > maxPendingConnections / 2
      ? Math.min(this.#ctx.options.handshakeTimeoutMs, PRESSURED_HANDSHAKE_TIMEOUT_MS)
      : this.#ctx.options.handshakeTimeoutMs
    for (const c of this.#pending) {
      if (now - c.startedAt >= deadline) {
        c.conn.destroy(new ToolkitError(ErrorCode.HandshakeTimeout, `no RELAY_BIND within ${deadline} ms`))
      }
    }
    for (const s of this.#ctx.registry.sessions()) {
      if (s.idleFor(now) >= idleTimeoutMs) {
        s.destroy(new ToolkitError(ErrorCode.IdleTimeout, `no frame from the worker for ${idleTimeoutMs} ms`))
      }
    }
  }

  /** Stops listening at once; resolves when the listener has fully closed (after {@link AcceptServer.closeSessions}). */
  async stopListening (): Promise<void> {
    this.#closing = true
    await new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
  }

  /**
   * Sends CLOSE to every session and fails their pending calls at once, drops handshaking
   * connections, and destroys whatever is still open after `graceMs`.
   */
  async closeSessions (graceMs: number): Promise<void> {
    this.#closing = true
    for (const c of this.#pending) c.conn.destroy()
    const sessions = this.#ctx.registry.sessions()
    for (const s of sessions) s.shutdown()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(sessions.map(async s => { await s.ended })),
      new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
    ])
    clearTimeout(timer)
    for (const s of sessions) s.destroy(new ToolkitError(ErrorCode.SessionClosed, 'relay closed'))
  }

  /**
   * Takes one connection through handshake, admission and the bound loop: a TCP socket from
   * the listener, or any duplex carrying the relay byte stream (TLS, WebSocket, long-poll).
   */
  accept (socket: ByteStream, transport: RelayTransport): void {
    socket.on('error', () => { /* reported through FrameConnection's onClose */ })
    const { maxPendingConnections, maxPendingConnectionsPerIp } = this.#ctx.options
    const ip = unwrapIPv4Mapped(socket.remoteAddress ?? '')
    const source = rateLimitSource(ip)
    const perIp = this.#pendingPerIp.get(source) ?? 0
    if (this.#closing || perIp >= maxPendingConnectionsPerIp || (this.#pending.size >= maxPendingConnections && !this.#evictOldest())) {
      socket.destroy()
      return
    }
    // Registered before the FrameConnection's own listener, so the budget is checked first.
    socket.on('data', (chunk: Buffer) => {
      this.#ctx.metrics.bytesIn(chunk.length)
      if (c.state === 'bound') return
      c.handshakeBytes += chunk.length
      if (c.handshakeBytes > MAX_HANDSHAKE_BYTES) c.conn.destroy()
    })
    const conn = new FrameConnection(socket, {
      onFrame: (frame) => {
        if (c.session !== undefined) c.session.handleFrame(frame)
        else this.#onHandshakeFrame(c, frame)
      },
      onClose: (err) => {
        this.#release(c)
        c.session?.handleClose(err)
      },
      inbound: this.#inbound,
      discardNonMapPayloads: true,
      chunkedPayloadsFrom: CHUNKED_BODY_BYTES
    })
    const c: Connection = { ip, source, transport, startedAt: performance.now(), state: 'init', handshakeBytes: 0, counted: true, conn, session: undefined }
    this.#pending.add(c)
    this.#pendingPerIp.set(source, perIp + 1)
  }

  /**
   * Makes room in a full pending table by closing the oldest connection still in its handshake
   * (one whose admission is running keeps its slot). The newest connection is the likeliest to
   * be a worker about to bind; the oldest has had the longest to do so. False if none can go.
   */
  #evictOldest (): boolean {
    for (const c of this.#pending) {
      if (c.state !== 'init' && c.state !== 'bind') continue
      this.#release(c)
      c.conn.destroy(new ToolkitError(ErrorCode.HandshakeTimeout, 'handshake slot given to a newer connection (pending table full)'))
      return true
    }
    return false
  }

  #onHandshakeFrame (c: Connection, frame: Frame): void {
    if (c.state === 'init') {
      // A first frame other than INIT closes the connection without a reply.
      if (frame.type !== MsgType.Init) { c.conn.destroy(); return }
      c.state = 'bind'
      c.conn.send(ACK_FRAME)
      this.#ctx.metrics.bytesOut(ACK_FRAME.length)
      return
    }
    if (c.state !== 'bind') return
    // After ACK the next frame must be a well-formed RELAY_BIND with a worker id; else a silent close.
    if (frame.type !== MsgType.RelayBind) { c.conn.destroy(); return }
    let bind: RelayBind
    try {
      bind = parseRelayBind(frame.payload)
    } catch {
      c.conn.destroy()
      return
    }
    this.#bind(c, bind)
  }

  #bind (c: Connection, bind: RelayBind): void {
    c.state = 'admitting'
    if (this.#admitting.has(bind.workerId)) {
      this.#decide(c, bind, { ok: false, outcome: 'already_bound', reason: BIND_REJECT_REASONS.already_bound }, '')
      return
    }
    this.#admitting.add(bind.workerId)
    this.#admit(c, bind).catch((err: unknown) => {
      this.#ctx.logger.error({ err, workerId: bind.workerId }, 'bind admission failed')
      c.conn.destroy()
    }).finally(() => { this.#admitting.delete(bind.workerId) })
  }

  async #admit (c: Connection, bind: RelayBind): Promise<void> {
    let result = await admitBind(this.#ctx.admission, bind, c.ip)
    let token = ''
    const directory = this.#ctx.directory
    if (result.ok && directory !== undefined) {
      const claim = await directory.claim(bind.workerId, bind.models)
      if (claim.ok) token = claim.token
      else result = { ok: false, outcome: claim.outcome === 'already_bound' ? 'already_bound' : 'capacity', reason: BIND_REJECT_REASONS[claim.outcome === 'already_bound' ? 'already_bound' : 'capacity'] }
    }
    if (result.ok && (c.conn.closed || this.#closing)) {
      directory?.release(bind.workerId, token)
      c.conn.destroy()
      return
    }
    this.#decide(c, bind, result, token)
  }

  #decide (c: Connection, bind: RelayBind, result: AdmissionResult, token: string): void {
    const { registry, metrics, options } = this.#ctx
    metrics.bind(result.ok ? 'ok' : result.outcome)
    this.#ctx.onBind?.(result.ok ? 'ok' : result.outcome, c.transport)
    if (!result.ok) {
      c.state = 'closing'
      this.#ctx.logger.info({ workerId: bind.workerId, reason: result.reason }, 'bind refused')
      const frame = encodeRelayAckError(bind.workerId, result.reason)
      metrics.bytesOut(frame.length)
      c.conn.end(frame)
      return
    }
    c.state = 'bound'
    this.#release(c)
    const logger = this.#ctx.logger.child({ workerId: bind.workerId, remote: c.ip })
    const session = new BoundWorkerSession(c.conn, bind, {
      idleTimeoutMs: options.idleTimeoutMs,
      maxCallsInFlight: options.maxCallsInFlightPerSession,
      logger,
      onBytesOut: metrics.bytesOut,
      onEnd: (s) => {
        if (registry.removeIf(s)) this.#ctx.admission.recentHolders?.record(s.workerId, c.source, performance.now())
        this.#ctx.directory?.ended(s)
      }
    })
    c.session = session
    registry.set(session)
    this.#ctx.directory?.hold(token, session)
    result.replaces?.destroy(new ToolkitError(ErrorCode.SessionClosed, 'replaced by a new bind of the same worker id'))
    session.sendAck(encodeRelayAckOk(bind.workerId, this.#ctx.advertisedHttpPort()))
    logger.info({ models: bind.models.length, rebind: result.replaces !== undefined }, 'worker bound')
  }

  #release (c: Connection): void {
    if (!c.counted) return
    c.counted = false
    this.#pending.delete(c)
    const n = (this.#pendingPerIp.get(c.source) ?? 1) - 1
    if (n <= 0) this.#pendingPerIp.delete(c.source)
    else this.#pendingPerIp.set(c.source, n)
  }
}
