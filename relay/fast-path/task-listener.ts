/**
 * The plain-HTTP listener of the relay's front with the task fast path: it accepts every
 * connection, answers task calls in the fast path's subset itself (task-connection.ts), and
 * hands every other connection to the node:http server, which then serves it as if it had
 * accepted it (every other route, WebSocket upgrades, and every request outside the subset,
 * with node:http's own parser, limits and deadlines). It keeps the fast connections' deadlines
 * itself, with one sweep: node:http's headers and request timeouts (408, then close) and its
 * keep-alive timeout.
 */
import type { Server as HttpServer } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { LISTEN_BACKLOG } from '../../src/limits.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { keepAliveLines } from './raw-answer.ts'
import { TaskConnection, type FastPathHost } from './task-connection.ts'

/** What the listener needs besides the fast path's host callbacks. */
export interface TaskFastPathSettings extends Omit<FastPathHost, 'handOff' | 'release' | 'keepAliveLines'> {
  /** The node:http server that serves every connection the fast path hands over. */
  readonly http: HttpServer
  /** Open connections (fast and handed over); beyond it new ones are dropped at once. */
  readonly maxConnections: number
  /** How often the fast connections' deadlines are checked. */
  readonly checkIntervalMs: number
}

/** Accepts the HTTP front's connections and serves task calls on the fast path. */
export class TaskFastPathListener {
  readonly #server: Server
  readonly #http: HttpServer
  readonly #host: FastPathHost
  readonly #connections = new Set<TaskConnection>()
  readonly #checkIntervalMs: number
  #sweep: NodeJS.Timeout | undefined

  constructor (settings: TaskFastPathSettings) {
    this.#http = settings.http
    this.#checkIntervalMs = settings.checkIntervalMs
    this.#host = {
      ctx: settings.ctx,
      get closing () { return settings.closing },
      keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
      keepAliveLines: keepAliveLines(settings.keepAliveTimeoutMs),
      headersTimeoutMs: settings.headersTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      begin: settings.begin,
      failed: settings.failed,
      handOff: (socket, bytes) => { this.#handOff(socket, bytes) },
      release: conn => { this.#connections.delete(conn) }
    }
    // The same socket options node:http's listener would set (it sets allowHalfOpen too).
    this.#server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, socket => {
      this.#connections.add(new TaskConnection(socket, this.#host))
    })
    this.#server.maxConnections = settings.maxConnections
  }

  /** The listening socket's server (errors, close). */
  get server (): Server {
    return this.#server
  }

  /** Starts listening; resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    const addr = await listenTcp(this.#server, { host, port, backlog: LISTEN_BACKLOG })
    // node:http starts tracking its connections' header and request deadlines when its server
    // emits 'listening'; the connections it is handed need the same tracking.
    this.#http.emit('listening')
    this.#sweep = setInterval(() => { this.#expire() }, this.#checkIntervalMs).unref()
    return addr.port
  }

  /** Stops accepting; resolves once every connection (fast or handed over) has closed. */
  async close (): Promise<void> {
    clearInterval(this.#sweep)
    await new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
  }

  /** Closes every fast-path connection now. */
  destroyConnections (): void {
    for (const conn of [...this.#connections]) conn.destroy()
  }

  #expire (): void {
    const now = performance.now()
    for (const conn of this.#connections) conn.expire(now)
  }

  #handOff (socket: Socket, bytes: Buffer | undefined): void {
    socket.pause()
    if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes)
    this.#http.emit('connection', socket)
    socket.resume()
  }
}
