/**
 * A task handler that forwards each task to a local HTTP backend: `POST {url}/v1/task` with the
 * task JSON. A 2xx JSON object is the result as is; anything else becomes a thrown error, which
 * the task runner answers as `{"error": "<message>"}`.
 */
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../src/limits.ts'
import { joinUrl, postJson } from './http-json.ts'
import type { TaskHandler } from './options.ts'

/** Options for {@link createBackendHandler}. */
export interface BackendHandlerOptions {
  /** Backend base URL; tasks go to `{url}/v1/task`. */
  url: URL
  /** Timeout of one request. */
  timeoutMs: number
  /** Largest number of pooled connections (match the worker's concurrency). */
  maxSockets: number
}

/** A backend handler and its connection pool. */
export interface BackendHandler {
  /** The task handler. */
  handler: TaskHandler
  /** Closes pooled connections; idempotent. */
  close: () => void
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The error text of a failed backend answer: `error.message`, `error` (string), `message`, or the status. */
export function backendErrorMessage (status: number, body: unknown): string {
  if (isObject(body)) {
    const err = body.error
    if (isObject(err) && typeof err.message === 'string' && err.message !== '') return err.message
    if (typeof err === 'string' && err !== '') return err
    if (typeof body.message === 'string' && body.message !== '') return body.message
    if (body.status === 'error') return `backend reported an error (HTTP ${status})`
  }
  return `backend answered HTTP ${status}`
}

/** Creates a handler posting tasks to a local HTTP backend. */
export function createBackendHandler (options: BackendHandlerOptions): BackendHandler {
  const target = joinUrl(options.url, '/v1/task')
  const agent = target.protocol === 'https:'
    ? new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets })
    : new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets })
  const handler: TaskHandler = async (task, ctx) => {
    const reply = await postJson(target, task, {
      what: 'backend request',
      errorCode: ErrorCode.BackendFailed,
      timeoutMs: options.timeoutMs,
      signal: ctx.signal,
      agent,
      maxResponseBytes: MAX_FRAME_PAYLOAD_BYTES
    })
    const ok = reply.status >= 200 && reply.status < 300
    if (!ok) {
      throw new ToolkitError(ErrorCode.BackendFailed, backendErrorMessage(reply.status, reply.json), { details: { status: reply.status } })
    }
    if (!reply.isJson) {
      throw new ToolkitError(ErrorCode.BackendFailed, `backend answered invalid JSON (HTTP ${reply.status})`, { details: { status: reply.status } })
    }
    if (!isObject(reply.json)) {
      throw new ToolkitError(ErrorCode.BackendFailed, `backend answered a non-object result (HTTP ${reply.status})`, { details: { status: reply.status } })
    }
    return reply.json
  }
  return { handler, close: () => { agent.destroy() } }
}
