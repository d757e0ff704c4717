/**
 * The worker's own HTTP front for the direct and mapped rungs: `POST /v1/task` runs the task on
 * the handler (or backend) with the relay path's answer shapes, `GET`/`HEAD /iicp/health` answer
 * the directory's probes, `GET /metrics` the node's Prometheus text. Bounded like the relay's
 * front: body limit, header and request deadlines, connection cap, tasks in flight.
 *
 * The same port receives the reflector's dial-back greeting (`IICP-DIALBACK <nonce>\n`): it is not
 * HTTP, so node:http reports it as a client error with the raw bytes, and {@link
 * DirectFront.awaitGreeting} matches it. A check therefore verifies the very listener that serves.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { ErrorCode, IicpCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { sendJson, sendJsonError } from '../../src/http/json-response.ts'
import { parseJsonObject, readBody } from '../../src/http/read-body.ts'
import type { Logger } from '../../src/log.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import type { TaskHandler } from '../options.ts'

/** Bounds of the direct front (the relay front's defaults apply, src/limits.ts). */
export interface DirectFrontLimits {
  maxConnections: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  maxRequestBodyBytes: number
  /** Tasks running at once; more are answered 429 IICP-E021. */
  maxConcurrent: number
  /** Deadline of one task. */
  taskTimeoutMs: number
}

/** Options for {@link createDirectFront}. */
export interface DirectFrontOptions extends DirectFrontLimits {
  handler: TaskHandler
  /** The health body's extra fields (rung, lease and registration state). */
  health: () => Record<string, unknown>
  /** Prometheus text for `GET /metrics`. */
  metrics: () => string
  logger: Logger
}

/** A running front. */
export interface DirectFront {
  /** The bound port. */
  readonly port: number
  /** Tasks running now. */
  readonly running: number
  /** Resolves with the peer address once the greeting `line` arrives; rejects when `signal` fires. */
  awaitGreeting: (line: string, signal: AbortSignal) => Promise<string>
  /** Stops accepting, lets running tasks finish for up to `graceMs`, then closes every connection. */
  close: (graceMs: number) => Promise<void>
}

const GREETING_PREFIX = 'IICP-DIALBACK '
const RETRY_AFTER_SECONDS = 1

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The relay path's answer to a worker result: 200 completed, or 500 with the worker's error. */
function sendTaskAnswer (res: ServerResponse, taskId: string, result: unknown): void {
  const obj = isObject(result) ? result : { result }
  const err = obj.error
  if (err !== undefined && err !== null && err !== false && !('result' in obj)) {
    const message = typeof err === 'string' ? err : isObject(err) && typeof err.message === 'string' ? err.message : JSON.stringify(err)
    sendJson(res, 500, { task_id: taskId, status: 'error', error: { message } })
    return
  }
  sendJson(res, 200, { task_id: taskId, status: 'completed', ...obj })
}

/** Starts the front on `host:port` (port 0 picks one). */
export async function createDirectFront (options: DirectFrontOptions, host: string, port: number): Promise<DirectFront> {
  const waiters = new Map<string, (from: string) => void>()
  const inflight = new Set<AbortController>()
  let onIdle: (() => void) | undefined
  let tasks = 0
  const { logger } = options

  async function task (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    if (tasks >= options.maxConcurrent) {
      sendJsonError(res, 429, IicpCode.Capacity, 'capacity_exceeded: worker at capacity', { 'retry-after': String(RETRY_AFTER_SECONDS) })
      return
    }
    tasks++
    try {
      await runTask(req, res, signal)
    } finally {
      tasks--
    }
  }

  async function runTask (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    let taskBody: Record<string, unknown>
    try {
      taskBody = parseJsonObject(await readBody(req, options.maxRequestBodyBytes, signal))
    } catch (err) {
      if (err instanceof ToolkitError && err.code === ErrorCode.BodyTooLarge) sendJsonError(res, 413, IicpCode.InvalidRequest, err.message, { connection: 'close' })
      else sendJsonError(res, 400, IicpCode.InvalidRequest, errorMessage(err))
      return
    }
    const taskId = typeof taskBody.task_id === 'string' ? taskBody.task_id : ''
    const taskSignal = AbortSignal.any([signal, AbortSignal.timeout(options.taskTimeoutMs)])
    let result: unknown
    try {
      result = await options.handler(taskBody, { callId: taskId, signal: taskSignal })
    } catch (err) {
      result = { error: errorMessage(err) }
    }
    sendTaskAnswer(res, taskId, result)
  }

  async function dispatch (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const method = req.method ?? 'GET'
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/v1/task') {
      if (method === 'POST') await task(req, res, signal)
      else sendJsonError(res, 405, 'method_not_allowed', 'use POST', { allow: 'POST' })
    } else if (path === '/iicp/health') {
      if (method === 'GET') sendJson(res, 200, { status: 'ok', ...options.health() })
      else if (method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end()
      } else sendJsonError(res, 405, 'method_not_allowed', 'use GET or HEAD', { allow: 'GET, HEAD' })
    } else if (path === '/metrics' && method === 'GET') {
      const text = options.metrics()
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    } else {
      sendJsonError(res, 404, 'not_found', `no route for ${method} ${path}`)
    }
  }

  const headersTimeout = Math.min(options.headersTimeoutMs, options.requestTimeoutMs)
  const server: Server = createServer({
    keepAlive: true,
    noDelay: true,
    headersTimeout,
    requestTimeout: options.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4)))
  }, (req, res) => {
    const ac = new AbortController()
    inflight.add(ac)
    req.on('error', () => {})
    res.once('close', () => {
      inflight.delete(ac)
      if (!res.writableFinished) ac.abort(new ToolkitError(ErrorCode.Aborted, 'HTTP client went away'))
      if (inflight.size === 0) onIdle?.()
    })
    dispatch(req, res, ac.signal).catch((err: unknown) => {
      logger.error({ err: errorMessage(err) }, 'direct front handler failed')
      if (!res.headersSent) sendJsonError(res, 500, 'internal_error', errorMessage(err))
      else res.destroy()
    })
  })
  server.maxConnections = options.maxConnections
  server.on('error', (err: NodeJS.ErrnoException) => { logger.error({ code: err.code, reason: err.message }, 'direct front listener error') })
  // A dial-back greeting is not HTTP: node:http hands its bytes to clientError.
  server.on('clientError', (err: Error & { rawPacket?: Buffer }, socket: Socket) => {
    const raw = err.rawPacket?.subarray(0, 256).toString('latin1') ?? ''
    if (raw.startsWith(GREETING_PREFIX)) {
      const line = raw.split('\n')[0]?.trim() ?? ''
      const waiter = waiters.get(line)
      if (waiter !== undefined) {
        waiters.delete(line)
        waiter(socket.remoteAddress ?? '')
      }
      socket.destroy()
      return
    }
    if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy()
  })
  const bound = await listenTcp(server, { host, port })

  return {
    port: bound.port,
    get running () { return tasks },
    awaitGreeting: async (line, signal) => await new Promise<string>((resolve, reject) => {
      if (signal.aborted) {
        reject(new ToolkitError(ErrorCode.Aborted, 'greeting wait cancelled'))
        return
      }
      const onAbort = (): void => {
        waiters.delete(line)
        reject(new ToolkitError(ErrorCode.Aborted, 'greeting wait cancelled'))
      }
      waiters.set(line, from => {
        signal.removeEventListener('abort', onAbort)
        resolve(from)
      })
      signal.addEventListener('abort', onAbort, { once: true })
    }),
    close: async graceMs => {
      const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
      server.closeIdleConnections()
      if (inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>(resolve => {
          onIdle = resolve
          timer = setTimeout(resolve, graceMs)
        })
        clearTimeout(timer)
        onIdle = undefined
      }
      for (const ac of inflight) ac.abort(new ToolkitError(ErrorCode.Aborted, 'worker stopping'))
      server.closeAllConnections()
      await closed
    }
  }
}
