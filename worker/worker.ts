/**
 * The relay worker: dials a relay, binds its worker id, serves CALLs through the tunnel, keeps
 * the session alive, and reconnects with back-off until stopped.
 */
import { EventEmitter } from 'node:events'
import type { Worker, WorkerEvents } from './api.ts'
import { raceSignal } from '../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage } from '../src/errors.ts'
import { silentLogger, type Logger } from '../src/log.ts'
import { createBackendHandler, type BackendHandler } from './backend-handler.ts'
import { directServerFor, type DirectServer } from './direct/direct-server.ts'
import { buildRegistrationPayload, reRegister } from './directory-registration.ts'
import {
  relayForEndpoint, resolveWorkerOptions, type BackoffInfo, type BindInfo, type DisconnectInfo, type ResolvedWorkerOptions,
  type TaskHandler, type WorkerOptions, type WorkerState
} from './options.ts'
import { runReconnectLoop } from './reconnect.ts'
import { RelayList } from './relay-list.ts'
import { openSession, type RelayConnection } from './session.ts'
import { createRelayDialer, transportEndpoint, type DialedTransport, type RelayDialer } from './transports/dialer.ts'
import { fetchBindTicketOrNone } from './ticket-fetch.ts'

class RelayWorker extends EventEmitter<WorkerEvents> implements Worker {
  readonly #o: ResolvedWorkerOptions
  readonly #relays: RelayList | undefined
  readonly #log: Logger
  readonly #handler: TaskHandler
  /** Answers connect offers and serves direct channels (unless `direct: false`). */
  readonly #direct: DirectServer | undefined
  readonly #backend: BackendHandler | undefined
  readonly #onBind: WorkerOptions['onBind']
  readonly #onDisconnect: WorkerOptions['onDisconnect']
  readonly #stopController = new AbortController()
  #state: WorkerState = 'idle'
  #binding: BindInfo | undefined
  #session: RelayConnection | undefined
  #loop: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #bindWaiters = new Set<(info: BindInfo) => void>()
  #registration: AbortController | undefined
  /** The latest directory node token: the one the last re-registration returned, else the configured one. */
  #nodeToken: string | undefined

  /** TLS, WebSocket, long-poll or auto transports (`transport` option); undefined: plain TCP. */
  readonly #dialer: RelayDialer | undefined
  #dialed: DialedTransport | undefined

  constructor (options: WorkerOptions) {
    super()
    this.#o = resolveWorkerOptions(options)
    this.#relays = this.#o.relays === undefined ? undefined : new RelayList(this.#o.relays)
    this.#log = (options.logger ?? silentLogger()).child({ component: 'relay-worker', workerId: this.#o.workerId })
    this.#dialer = this.#o.transport === undefined ? undefined : createRelayDialer(this.#o.transport, this.#log)
    this.#onBind = options.onBind
    this.#onDisconnect = options.onDisconnect
    this.#nodeToken = this.#o.register?.nodeToken
    if (this.#o.backendUrl !== undefined) {
      this.#backend = createBackendHandler({ url: this.#o.backendUrl, timeoutMs: this.#o.backendTimeoutMs, maxSockets: this.#o.maxConcurrent })
      this.#handler = this.#backend.handler
    } else {
      this.#handler = options.handler as TaskHandler
    }
    // A direct consumer gone quiet hints at a network change: a PING restores the relay session's NAT mapping (or ends a dead session now).
    this.#direct = directServerFor(this.#o, this.#log, () => { this.#session?.ping() })
    if (this.#direct !== undefined) this.#handler = this.#direct.wrap(this.#handler)
    const external = options.signal
    if (external !== undefined) {
      const onAbort = (): void => { void this.stop() }
      if (external.aborted) onAbort()
      else external.addEventListener('abort', onAbort, { once: true })
      this.#stopController.signal.addEventListener('abort', () => { external.removeEventListener('abort', onAbort) }, { once: true })
    }
  }

  get state (): WorkerState {
    return this.#state
  }

  get binding (): BindInfo | undefined {
    return this.#binding
  }

  start (): Promise<void> {
    if (this.#stopController.signal.aborted) return Promise.reject(new ToolkitError(ErrorCode.Aborted, 'worker was stopped'))
    if (this.#loop !== undefined) return Promise.resolve()
    this.#log.info({ relay: `${this.#o.relayHost}:${this.#o.relayPort}` }, 'relay worker starting')
    this.#loop = runReconnectLoop(async signal => { await this.#attempt(signal) }, {
      minDelayMs: this.#o.minDelayMs,
      maxDelayMs: this.#o.maxDelayMs,
      signal: this.#stopController.signal,
      onBackoff: info => { this.#backoff(info) }
    }).catch((err: unknown) => {
      // Unreachable unless a bug escapes the loop; report it instead of an unhandled rejection.
      const error = new ToolkitError(ErrorCode.ConnectionClosed, `reconnect loop ended: ${errorMessage(err)}`, { cause: err })
      this.#log.error({ err: error }, 'reconnect loop ended')
      this.#reportError(error)
    })
    return Promise.resolve()
  }

  async whenBound (signal?: AbortSignal): Promise<BindInfo> {
    if (this.#binding !== undefined) return this.#binding
    const stop = this.#stopController.signal
    const combined = signal === undefined ? stop : AbortSignal.any([stop, signal])
    let waiter: ((info: BindInfo) => void) | undefined
    try {
      return await raceSignal(new Promise<BindInfo>(resolve => {
        waiter = resolve
        this.#bindWaiters.add(resolve)
      }), combined, 'waiting for bind')
    } finally {
      if (waiter !== undefined) this.#bindWaiters.delete(waiter)
    }
  }

  async stop (): Promise<void> {
    this.#stopping ??= this.#shutdown()
    await this.#stopping
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.stop()
  }

  async #shutdown (): Promise<void> {
    const wasRunning = this.#loop !== undefined
    this.#setState('stopping')
    this.#stopController.abort(new ToolkitError(ErrorCode.Aborted, 'worker stopped'))
    this.#registration?.abort()
    await this.#session?.shutdown(this.#o.stopGraceMs)
    await this.#loop
    this.#direct?.close(new ToolkitError(ErrorCode.Aborted, 'worker stopping'))
    this.#backend?.close()
    this.#dialer?.close()
    this.#setState('stopped')
    if (wasRunning) this.#log.info('relay worker stopped')
  }

  /** One attempt: ticket, dial, handshake; once bound, serve until the session ends. */
  async #attempt (signal: AbortSignal): Promise<void> {
    this.#setState('connecting')
    const o = this.#o
    const ticket = o.ticket ?? await this.#fetchTicket(signal)
    // With a relay list (a fleet), each attempt dials the next relay of this worker's random order.
    const relay = await this.#relays?.next() ?? { host: o.relayHost, port: o.relayPort, name: o.relayHost }
    const session = await openSession({
      host: relay.host,
      port: relay.port,
      ...(this.#dialer === undefined ? {} : { dial: async (s: AbortSignal | undefined) => (this.#dialed = await (this.#dialer as RelayDialer).dial(s ?? signal, o.connectTimeoutMs)).stream }),
      bind: ticket === undefined ? { workerId: o.workerId, intent: o.intent, models: o.models } : { workerId: o.workerId, intent: o.intent, models: o.models, ticket },
      connectTimeoutMs: o.connectTimeoutMs,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      pingIntervalMs: o.pingIntervalMs,
      idleTimeoutMs: o.idleTimeoutMs,
      handler: this.#handler,
      maxConcurrent: o.maxConcurrent,
      maxQueued: o.maxQueued,
      taskTimeoutMs: o.taskTimeoutMs,
      logger: this.#log
    }, signal)
    if (signal.aborted) {
      // stop() ran while the bind completed: end this session without announcing it.
      await session.shutdown(o.stopGraceMs)
      return
    }
    this.#session = session
    const info: BindInfo = {
      relayHost: relay.name,
      relayHttpPort: session.relayHttpPort,
      workerId: o.workerId,
      endpoint: relayForEndpoint(relay.name, session.relayHttpPort, o.workerId),
      ...(this.#dialed === undefined ? {} : transportEndpoint(this.#dialed.target, session.relayHttpPort, o.workerId))
    }
    this.#bound(info)
    const end = await session.ended
    this.#session = undefined
    this.#binding = undefined
    const disconnect: DisconnectInfo = end.error === undefined ? { reason: end.reason } : { reason: end.reason, error: end.error }
    this.#log.info({ reason: end.reason, err: end.error }, 'relay session ended')
    this.#safeEmit('disconnect', disconnect)
    this.#callback('onDisconnect', () => this.#onDisconnect?.(disconnect))
  }

  async #fetchTicket (signal: AbortSignal): Promise<string | undefined> {
    const dir = this.#o.ticketDirectory
    if (dir === undefined) return undefined
    return await fetchBindTicketOrNone({
      url: dir.url,
      nodeToken: this.#tokenFor(dir.url, dir.nodeToken),
      workerId: this.#o.workerId,
      relayNodeId: dir.relayNodeId,
      timeoutMs: this.#o.directoryTimeoutMs,
      signal
    }, this.#log)
  }

  /** The rotated token when `url` is the registration directory (fixes upstream's stale token, spec §6.2 item 8). */
  #tokenFor (url: string, configured: string): string {
    const reg = this.#o.register
    const same = reg !== undefined && reg.directoryUrl.replace(/\/+$/, '') === url.replace(/\/+$/, '')
    return same && this.#nodeToken !== undefined ? this.#nodeToken : configured
  }

  #bound (info: BindInfo): void {
    this.#binding = info
    this.#setState('bound')
    this.#log.info({ relayHost: info.relayHost, relayHttpPort: info.relayHttpPort, endpoint: info.endpoint }, 'bound to relay')
    for (const waiter of [...this.#bindWaiters]) waiter(info)
    this.#bindWaiters.clear()
    this.#safeEmit('bind', info)
    this.#callback('onBind', () => this.#onBind?.(info))
    this.#register(info)
  }

  #register (info: BindInfo): void {
    const reg = this.#o.register
    if (reg === undefined) return
    this.#registration?.abort()
    const controller = new AbortController()
    this.#registration = controller
    const payload = buildRegistrationPayload(reg.payload, info, this.#nodeToken ?? reg.nodeToken)
    void reRegister({ directoryUrl: reg.directoryUrl, payload, timeoutMs: this.#o.directoryTimeoutMs, signal: controller.signal }).then(token => {
      if (token !== undefined) this.#nodeToken = token
      this.#log.info({ endpoint: info.endpoint }, 're-registered with the directory')
      this.#safeEmit('registered', info)
    }, (err: unknown) => {
      if (controller.signal.aborted) return
      const error = err instanceof ToolkitError ? err : new ToolkitError(ErrorCode.Directory, errorMessage(err), { cause: err })
      this.#log.warn({ err: error }, 'directory re-registration failed')
      this.#reportError(error)
    }).finally(() => {
      if (this.#registration === controller) this.#registration = undefined
    })
  }

  #backoff (info: BackoffInfo): void {
    if (this.#stopController.signal.aborted) return
    this.#setState('backoff')
    // Expected network failures: code and message, no stack trace on every retry.
    if (info.error !== undefined) this.#log.warn({ code: info.error.code, reason: info.error.message, attempt: info.attempt, delayMs: info.delayMs }, 'relay attempt failed; retrying')
    else this.#log.info({ delayMs: info.delayMs }, 'reconnecting after session end')
    this.#safeEmit('backoff', info)
  }

  #setState (state: WorkerState): void {
    if (this.#state === state || this.#state === 'stopped') return
    if (this.#state === 'stopping' && state !== 'stopped') return
    this.#state = state
    this.#safeEmit('state', state)
  }

  /** Runs a user callback; a throw or rejection is logged and reported, never fatal. */
  #callback (name: string, fn: () => unknown): void {
    const fail = (err: unknown): void => {
      const error = new ToolkitError(ErrorCode.HandlerFailed, `${name} callback failed: ${errorMessage(err)}`, { cause: err })
      this.#log.warn({ err: error }, `${name} callback failed`)
      this.#reportError(error)
    }
    try {
      Promise.resolve(fn()).catch(fail)
    } catch (err) {
      fail(err)
    }
  }

  /** Emits to listeners; a listener that throws is logged, never allowed to break the worker. */
  #safeEmit<K extends keyof WorkerEvents> (event: K, ...args: WorkerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WorkerEvents[K]) => boolean)(event, ...args)
    } catch (err) {
      this.#log.warn({ err, event }, 'worker event listener threw')
    }
  }

  #reportError (err: ToolkitError): void {
    if (this.listenerCount('error') > 0) this.#safeEmit('error', err)
  }
}

/**
 * Creates a relay worker. Throws ERR_INVALID_CONFIG for bad options.
 *
 * @example
 * ```ts
 * const worker = createWorker({
 *   relayHost: 'relay.example', relayPort: 9485, workerId: 'w-1',
 *   handler: async (task) => ({ result: { echo: (task as { payload?: unknown }).payload } })
 * })
 * await worker.start()
 * const { endpoint } = await worker.whenBound()
 * // … later
 * await worker.stop()
 * ```
 */
export function createWorker (options: WorkerOptions): Worker {
  return new RelayWorker(options)
}
