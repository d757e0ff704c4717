/**
 * `createRelay()`: composes the relay-accept listener, the session registry, admission, the
 * forwarder, the HTTP front, metrics and the one sweep timer into a {@link Relay}.
 */
import type { Registry } from 'prom-client'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { BIND_RATE_PRUNE_AT, MAX_BIND_RATE_SOURCES, REBIND_GRACE_MS } from '../src/limits.ts'
import type { LifecycleEvent } from '../src/protocol/messages.ts'
import { createFixedWindowLimiter } from '../src/rate-limit.ts'
import { VERSION } from '../src/version.ts'
import { AcceptServer } from './accept-server.ts'
import { createForwarder, type ForwardOptions, type ForwardResult } from './forwarder.ts'
import { HttpFront } from './http-front.ts'
import { createRelayTransports } from './transports/relay-transports.ts'
import { createRelayMetrics } from './metrics.ts'
import { resolveRelayOptions, type RelayOptions } from './options.ts'
import { RecentHolders } from './recent-holders.ts'
import { createReplayCache } from './replay-cache.ts'
import { SessionRegistry } from './session-registry.ts'

/** How long `close()` lets sessions take their CLOSE and HTTP answers flush before destroying what is left. */
const CLOSE_GRACE_MS = 1_000

/** Where a listening relay is reachable. */
export interface RelayAddress {
  /** The address both listeners are bound to. */
  host: string
  /** The bound HTTP front port. */
  httpPort: number
  /** The bound relay-accept port. */
  relayPort: number
  /** The bound TLS (`iicpsec://`) relay-accept port, when `tlsRelayPort` is set. */
  tlsRelayPort?: number
}

/** A public relay-accept server with its HTTP front. */
export interface Relay extends AsyncDisposable {
  /** Binds both listeners (HTTP first) and starts the sweep timer. Calling it again returns the same address. */
  listen: () => Promise<RelayAddress>
  /**
   * Stops both listeners, sends CLOSE to every session, fails every pending call at once,
   * and destroys what is still open after a short grace. Idempotent.
   */
  close: () => Promise<void>
  /** Registered sessions (bound, until their teardown). */
  readonly sessionCount: number
  /** This relay's own Prometheus registry. */
  readonly metrics: Registry
  /**
   * Forwards a task object to a bound worker and resolves with its result. Rejects with a
   * ToolkitError: ERR_SESSION_NOT_FOUND, ERR_SESSION_BUSY, ERR_SESSION_CLOSED,
   * ERR_FORWARD_TIMEOUT, ERR_ABORTED, ERR_WORKER_ERROR or ERR_BAD_RESULT.
   */
  forward: (workerId: string, task: object, options?: ForwardOptions) => Promise<ForwardResult>
  /**
   * Forwards a task as a stream CALL and yields its lifecycle events, validated in order
   * (spec §3.6). Fails with ERR_STREAM_VIOLATION (`details.reason` = the upstream code),
   * ERR_FORWARD_TIMEOUT per event, or the errors of {@link Relay.forward}. The stream CALL
   * is sent when iteration starts; breaking out of the loop cancels the stream.
   */
  forwardStream: (workerId: string, task: object, options?: ForwardOptions) => AsyncIterable<LifecycleEvent>
  /**
   * Re-reads the TLS certificate and key files for new handshakes; sessions stay up. Resolves
   * with the new certificate's expiry, or undefined without TLS. Throws ERR_INVALID_CONFIG
   * (the old certificate stays) for unreadable or mismatched files.
   */
  reloadTls: () => { notAfter: string } | undefined
}

/**
 * Creates a relay. Nothing listens until {@link Relay.listen}.
 *
 * @example
 * ```ts
 * await using relay = createRelay({ httpPort: 0, relayPort: 0, nodeId: 'relay-1' })
 * const { httpPort, relayPort } = await relay.listen()
 * ```
 */
export function createRelay (options: RelayOptions = {}): Relay {
  const opts = resolveRelayOptions(options)
  const logger = opts.logger
  const startedAt = performance.now()
  const registry = new SessionRegistry()
  const metrics = createRelayMetrics({
    sessions: () => registry.size,
    // Read at scrape time, after acceptServer exists.
    pendingConnections: () => acceptServer.pendingCount,
    maxSessions: opts.maxSessions
  })
  let httpPort = 0
  const acceptServer = new AcceptServer({
    options: opts,
    registry,
    metrics,
    logger,
    advertisedHttpPort: () => opts.advertisedHttpPort ?? httpPort,
    onBind: (outcome, transport) => { transports.onBind(outcome, transport) },
    directory: opts.fleet?.directory,
    admission: {
      requireTicket: opts.requireTicket,
      ticketPublicKey: opts.ticketPublicKey,
      audience: opts.nodeId,
      maxSessions: opts.maxSessions,
      registry,
      rateLimiter: opts.fleet?.rateLimiter ?? createFixedWindowLimiter({
        limit: opts.bindRateLimit,
        windowMs: opts.bindRateWindowMs,
        maxKeys: MAX_BIND_RATE_SOURCES,
        pruneAt: BIND_RATE_PRUNE_AT,
        whenFull: 'evict-oldest'
      }),
      replayCache: opts.fleet?.replayCache ?? createReplayCache(),
      // An in-memory replay cache starts empty: tickets issued before this start may have been used.
      ticketsIssuedNotBefore: opts.fleet === undefined ? Math.floor(opts.now() / 1000) : undefined,
      recentHolders: new RecentHolders(REBIND_GRACE_MS, opts.maxSessions),
      now: opts.now,
      logger
    }
  })
  const transports = createRelayTransports(opts, acceptServer, metrics.registry, logger)
  const forwarder = createForwarder({ registry, metrics, forwardTimeoutMs: opts.forwardTimeoutMs, logger, remote: opts.fleet?.remote })
  const http = new HttpFront({
    registry,
    forwarder,
    metrics,
    maxRequestBodyBytes: opts.maxRequestBodyBytes,
    metricsOnHttpFront: opts.metricsOnHttpFront,
    remote: opts.fleet?.remote,
    status: () => ({
      ...(opts.fleet === undefined ? {} : { fleet: opts.fleet.status() }),
      node_id: opts.nodeId,
      sessions: registry.size,
      max_sessions: opts.maxSessions,
      pending_connections: acceptServer.pendingCount,
      uptime_s: Math.floor((performance.now() - startedAt) / 1000),
      version: VERSION
    })
  }, opts.extraRoutes, logger, {
    maxConnections: opts.maxHttpConnections,
    headersTimeoutMs: opts.httpHeadersTimeoutMs,
    requestTimeoutMs: opts.httpRequestTimeoutMs,
    taskFastPath: opts.httpTaskFastPath
  }, transports.httpFront)
  let sweepTimer: NodeJS.Timeout | undefined
  let listening: Promise<RelayAddress> | undefined
  let closing: Promise<void> | undefined

  async function start (): Promise<RelayAddress> {
    // A fleet member joins (internal listener, Redis) before it accepts binds or calls.
    await opts.fleet?.start({ alive: id => registry.alive(id), sessionCount: () => registry.size, maxSessions: opts.maxSessions, forwardTimeoutMs: opts.forwardTimeoutMs, metrics: metrics.registry })
    try {
      await transports.attach(http.server)
      httpPort = await http.listen(opts.host, opts.httpPort)
    } catch (err) {
      await transports.close()
      await opts.fleet?.close()
      throw err
    }
    let relayPort: number
    let tlsRelayPort: number | undefined
    try {
      relayPort = await acceptServer.listen(opts.host, opts.relayPort)
      tlsRelayPort = await transports.listen()
    } catch (err) {
      await http.close(0)
      await acceptServer.stopListening()
      await transports.close()
      await opts.fleet?.close()
      throw err
    }
    if (closing === undefined) {
      sweepTimer = setInterval(() => { acceptServer.sweep(performance.now()) }, opts.sweepIntervalMs)
      sweepTimer.unref()
    }
    if (opts.requireTicket && opts.ticketPublicKey === undefined) {
      logger.warn('strict mode without a ticket public key: every bind will be refused')
    } else if (!opts.requireTicket) {
      logger.warn('compatibility mode: binds without a bind ticket are accepted')
    }
    logger.info({ host: opts.host, httpPort, relayPort, tlsRelayPort, tls: opts.tls !== undefined, nodeId: opts.nodeId }, 'relay listening')
    return tlsRelayPort === undefined ? { host: opts.host, httpPort, relayPort } : { host: opts.host, httpPort, relayPort, tlsRelayPort }
  }

  async function stop (): Promise<void> {
    // From here on, callers get 503 with Retry-After, not 404 for sessions that are closing.
    http.beginShutdown()
    await listening?.catch(() => undefined)
    clearInterval(sweepTimer)
    const stopped = acceptServer.stopListening()
    const transportsStopped = transports.close()
    await acceptServer.closeSessions(CLOSE_GRACE_MS)
    await opts.fleet?.close()
    await http.close(CLOSE_GRACE_MS)
    await stopped
    await transportsStopped
    logger.info('relay closed')
  }

  return {
    async listen () {
      if (closing !== undefined) throw new ToolkitError(ErrorCode.InvalidConfig, 'relay is closed')
      listening ??= start()
      return await listening
    },
    async close () {
      closing ??= stop()
      await closing
    },
    async [Symbol.asyncDispose] () {
      await this.close()
    },
    reloadTls: () => transports.reloadTls(),
    get sessionCount () {
      return registry.size
    },
    metrics: metrics.registry,
    async forward (workerId, task, forwardOptions) {
      return await forwarder.forward(workerId, Buffer.from(JSON.stringify(task), 'utf8'), forwardOptions)
    },
    forwardStream (workerId, task, forwardOptions) {
      return forwarder.stream(workerId, task as Record<string, unknown>, forwardOptions)
    }
  }
}
