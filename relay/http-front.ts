/**
 * The relay's HTTP front (node:http, keep-alive, no framework): relay-for task and health,
 * `/v1/relay`, the relay's own health and metrics, extra routes, CORS on every answer and
 * OPTIONS preflights. Each request gets an AbortSignal that fires when its client goes away
 * or the relay closes. On plain HTTP its listener is the task fast path's (fast-path/), which
 * answers task calls itself and hands every other connection to the node:http server here.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https'
import { Server as NetServer } from 'node:net'
import { ErrorCode, IicpCode, ToolkitError, errorMessage } from '../src/errors.ts'
import { createRouteReply, type ExtensionRoute } from '../src/http/route.ts'
import type { Logger } from '../src/log.ts'
import { workerIdFromPathSegment } from '../src/protocol/worker-id.ts'
import { CORS_HEADERS, sendPreflight } from './cors.ts'
import { sendError } from './http-io.ts'
import type { RouteContext } from './routes/context.ts'
import { meshRelay } from './routes/mesh-relay.ts'
import { relayForHealth, relayForTask } from './routes/relay-for.ts'
import { relayHealth, relayMetrics } from './routes/relay-status.ts'
import { LISTEN_BACKLOG } from '../src/limits.ts'
import { LinkedSet } from '../src/linked-set.ts'
import { listenTcp } from '../src/transport/listen.ts'
import { RawAnswer } from './fast-path/raw-answer.ts'
import { TaskFastPathListener } from './fast-path/task-listener.ts'

const RELAY_FOR_PREFIX = '/v1/relay-for/'
const noop = (): void => {}
/** Longest interval between node:http's header/request deadline checks. */
const DEADLINE_CHECK_INTERVAL_MS = 250
/** Seconds a caller is told to wait (Retry-After) when the relay is shutting down. */
const SHUTDOWN_RETRY_AFTER_S = 5
/** How long the answers to requests cut by shutdown get to flush before their connections close. */
const SHUTDOWN_FLUSH_MS = 500

/** 503 for a request the relay cannot serve because it is shutting down; the connection is not reused. */
function sendShuttingDown (res: ServerResponse | RawAnswer): void {
  sendError(res, 503, 'relay_shutting_down', 'the relay is shutting down; retry later or on another relay', {
    'retry-after': String(SHUTDOWN_RETRY_AFTER_S),
    connection: 'close'
  })
}

function notAllowed (res: ServerResponse, allow: string): void {
  sendError(res, 405, 'method_not_allowed', `use ${allow}`, { allow: `${allow}, OPTIONS` })
}

/** A request being answered (by node:http, or on the task fast path). */
interface InflightRequest {
  readonly ac: AbortController
  readonly res: ServerResponse | RawAnswer
}

/** Resolves once an answer has been written out, or its connection is gone. */
async function whenAnswerClosed (res: ServerResponse | RawAnswer): Promise<void> {
  if (res instanceof RawAnswer) {
    await res.whenFlushed()
    return
  }
  await new Promise<void>(resolve => { res.once('close', resolve) })
}

/** Connection limits of the HTTP listener. */
export interface HttpFrontLimits {
  /** Open connections; beyond it node:http drops new ones at once. */
  maxConnections: number
  /** Deadline for a client's request headers (408, then close). */
  headersTimeoutMs: number
  /** Deadline for a client's whole request (408, then close). */
  requestTimeoutMs: number
  /**
   * Answer task calls (`POST /v1/relay-for/{wid}/v1/task` for a worker bound here) on plain
   * HTTP on the fast path (relay/fast-path/); false: node:http serves every request. Without
   * effect under TLS, which node:https always serves. @default true
   */
  taskFastPath?: boolean
}

/** Optional transports on the HTTP front (relay/transports/). */
export interface HttpFrontTransports {
  /** Serve HTTPS with these TLS options instead of plain HTTP. */
  tls?: HttpsServerOptions | undefined
  /**
   * Answers requests whose path starts with `pathPrefix` before the built-in routes (the
   * long-poll worker API); `handle` resolves false to pass one on. Other paths never reach it.
   */
  preRoute?: {
    pathPrefix: string
    handle: (req: IncomingMessage, res: ServerResponse, method: string, path: string, signal: AbortSignal) => Promise<boolean>
  } | undefined
}

/** The HTTP listener and its request dispatch. */
export class HttpFront {
  readonly #server: Server
  readonly #ctx: RouteContext
  readonly #logger: Logger
  readonly #extra = new Map<string, ExtensionRoute>()
  readonly #extraPaths = new Map<string, string[]>()
  readonly #noCors = new Set<string>()
  /** Requests being answered: their abort controller and response (see linked-set.ts for why not a Map). */
  readonly #inflight = new LinkedSet<InflightRequest>()
  #onIdle: (() => void) | undefined
  /** Set when the relay starts shutting down: every new request gets 503 with Retry-After. */
  #closing = false

  readonly #preRoute: HttpFrontTransports['preRoute']
  /** The plain-HTTP listener with the task fast path (undefined: node:http listens itself). */
  readonly #fast: TaskFastPathListener | undefined

  constructor (ctx: RouteContext, extraRoutes: readonly ExtensionRoute[], logger: Logger, limits: HttpFrontLimits, transports: HttpFrontTransports = {}) {
    this.#ctx = ctx
    this.#logger = logger
    for (const r of extraRoutes) {
      this.#extra.set(`${r.method} ${r.path}`, r)
      this.#extraPaths.set(r.path, [...(this.#extraPaths.get(r.path) ?? []), r.method])
      if (r.cors === false) this.#noCors.add(r.path)
    }
    const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs)
    this.#preRoute = transports.preRoute
    const serverOptions: ServerOptions = {
      keepAlive: true,
      noDelay: true,
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      // How often node:http checks those two deadlines: often enough that they hold within
      // a quarter second (at 1 s they fired up to 2 s late under load).
      connectionsCheckingInterval: Math.max(10, Math.min(DEADLINE_CHECK_INTERVAL_MS, Math.floor(headersTimeout / 20)))
    }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => { this.#onRequest(req, res) }
    this.#server = transports.tls === undefined ? createServer(serverOptions, onRequest) : createHttpsServer({ ...serverOptions, ...transports.tls }, onRequest)
    this.#server.maxConnections = limits.maxConnections
    const onListenerError = (err: NodeJS.ErrnoException): void => { logger.error({ code: err.code, reason: err.message }, 'HTTP listener error') }
    this.#server.on('error', onListenerError)
    if (transports.tls === undefined && limits.taskFastPath !== false) {
      const isClosing = (): boolean => this.#closing
      this.#fast = new TaskFastPathListener({
        http: this.#server,
        ctx,
        get closing () { return isClosing() },
        keepAliveTimeoutMs: this.#server.keepAliveTimeout,
        headersTimeoutMs: headersTimeout,
        requestTimeoutMs: limits.requestTimeoutMs,
        maxConnections: limits.maxConnections,
        checkIntervalMs: serverOptions.connectionsCheckingInterval as number,
        begin: (ac, res) => this.#begin(ac, res),
        failed: (err, res) => { this.#failed(err, res) }
      })
      this.#fast.server.on('error', onListenerError)
    }
  }

  /**
   * The node:http server (an `https.Server` when TLS is on), for upgrade handlers and certificate
   * reloads. On plain HTTP with the task fast path it does not listen itself: it serves the
   * connections the fast path hands it.
   */
  get server (): Server {
    return this.#server
  }

  /** Starts listening; resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    if (this.#fast !== undefined) return await this.#fast.listen(host, port)
    return (await listenTcp(this.#server, { host, port, backlog: LISTEN_BACKLOG })).port
  }

  /**
   * The relay is shutting down: from now on every request (on a kept-alive connection, or
   * before the listener closes) gets 503 `relay_shutting_down` with Retry-After and
   * `Connection: close`, instead of a 404 for a session that is going away.
   */
  beginShutdown (): void {
    this.#closing = true
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (kept-alive connections
   * stay open meanwhile, so their callers get 503 rather than a reset), then answers every
   * request still without an answer (an upload in progress, say) with 503, and closes every
   * connection once those answers are flushed.
   */
  async close (graceMs: number): Promise<void> {
    this.beginShutdown()
    // net.Server's close, not http.Server's: the latter also drops idle keep-alive connections at once.
    const closed = this.#fast !== undefined
      ? this.#fast.close()
      : new Promise<void>(resolve => { NetServer.prototype.close.call(this.#server, () => { resolve() }) })
    if (this.#inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>(resolve => {
        this.#onIdle = resolve
        timer = setTimeout(resolve, graceMs)
      })
      clearTimeout(timer)
      this.#onIdle = undefined
    }
    const answered: Array<Promise<void>> = []
    for (const { res } of this.#inflight.toArray()) {
      if (res.headersSent) continue
      answered.push(whenAnswerClosed(res))
      sendShuttingDown(res)
    }
    if (answered.length > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(answered), new Promise<void>(resolve => { timer = setTimeout(resolve, SHUTDOWN_FLUSH_MS) })])
      clearTimeout(timer)
    }
    for (const { ac } of this.#inflight.toArray()) ac.abort(new ToolkitError(ErrorCode.Aborted, 'relay closed'))
    this.#server.closeAllConnections()
    if (this.#fast !== undefined) {
      this.#fast.destroyConnections()
      // Ends node:http's deadline checks for the connections it was handed (it never listened).
      this.#server.close()
    }
    await closed
  }

  /** A fast-path request is being answered: tracked like node:http's; returns its unregistration. */
  #begin (ac: AbortController, res: RawAnswer): () => void {
    const node = this.#inflight.add({ ac, res })
    return () => {
      this.#inflight.delete(node)
      if (this.#inflight.size === 0) this.#onIdle?.()
    }
  }

  #failed (err: unknown, res: ServerResponse | RawAnswer): void {
    this.#logger.error({ err }, 'HTTP handler failed')
    if (!res.headersSent) sendError(res, 500, 'internal_error', errorMessage(err))
    else res.destroy()
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    req.on('error', noop)
    if (this.#closing) {
      sendShuttingDown(res)
      return
    }
    const ac = new AbortController()
    const node = this.#inflight.add({ ac, res })
    res.once('close', () => {
      this.#inflight.delete(node)
      if (!res.writableFinished) ac.abort(new ToolkitError(ErrorCode.Aborted, 'HTTP client went away'))
      if (this.#inflight.size === 0) this.#onIdle?.()
    })
    this.#dispatch(req, res, ac.signal).catch((err: unknown) => { this.#failed(err, res) })
  }

  async #dispatch (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const method = req.method ?? 'GET'
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    if (method === 'OPTIONS') {
      // No CORS for /metrics and for routes that opt out (the dial-back reflector): no web page may drive them.
      if (path === '/metrics' || this.#noCors.has(path)) res.writeHead(204).end()
      else sendPreflight(res)
      return
    }
    const pre = this.#preRoute
    if (pre !== undefined && path.startsWith(pre.pathPrefix) && await pre.handle(req, res, method, path, signal)) return
    if (path.startsWith(RELAY_FOR_PREFIX)) {
      // The worker id is the third path segment, percent-decoded once (w%2D1 is w-1); a segment
      // that does not decode into the worker id alphabet cannot name a session.
      const rest = path.slice(RELAY_FOR_PREFIX.length)
      const slash = rest.indexOf('/')
      const sub = rest.slice(slash)
      const workerId = workerIdFromPathSegment(rest.slice(0, slash))
      if (slash > 0 && workerId === undefined && (sub === '/v1/task' || sub === '/iicp/health')) {
        sendError(res, 404, IicpCode.NoSession, 'no relay session can have this worker id (see the worker id alphabet)')
        return
      }
      if (workerId !== undefined && sub === '/v1/task') {
        if (method === 'POST') await relayForTask(this.#ctx, req, res, workerId, signal)
        else notAllowed(res, 'POST')
        return
      }
      if (workerId !== undefined && sub === '/iicp/health') {
        if (method === 'GET') await relayForHealth(this.#ctx, res, workerId, signal)
        else notAllowed(res, 'GET')
        return
      }
    } else if (path === '/v1/relay') {
      if (method === 'POST') await meshRelay(this.#ctx, req, res, signal)
      else notAllowed(res, 'POST')
      return
    } else if (path === '/iicp/health') {
      if (method === 'GET') relayHealth(this.#ctx, res)
      else notAllowed(res, 'GET')
      return
    } else if (path === '/metrics') {
      if (method === 'GET') await relayMetrics(this.#ctx, res)
      else notAllowed(res, 'GET')
      return
    }
    const route = this.#extra.get(`${method} ${path}`)
    if (route !== undefined) {
      await route.handler(req, createRouteReply(res, route.cors === false ? {} : CORS_HEADERS), { signal })
      return
    }
    const methods = this.#extraPaths.get(path)
    if (methods !== undefined) {
      notAllowed(res, methods.join(', '))
      return
    }
    sendError(res, 404, 'not_found', `no route for ${method} ${path}`)
  }
}
