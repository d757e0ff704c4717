/**
 * The HTTP answers to a forwarded task. Success is `{"task_id", "status":"completed", …worker
 * result keys}` (the worker's keys override, spec §4.3). A worker failure is HTTP 500 in the
 * direct node's `/v1/task` error shape; transport failures are JSON errors with IICP codes.
 */
import type { ServerResponse } from 'node:http'
import { ErrorCode, IicpCode, isToolkitError, errorMessage } from '../src/errors.ts'
import type { ForwardResult } from './forwarder.ts'
import { sendError, sendJson, sendJsonBytes } from './http-io.ts'

/** Seconds a caller refused for too many calls in flight should wait (Retry-After). */
const BUSY_RETRY_AFTER_SECONDS = 1

function isJsonSpace (byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09
}

/**
 * Builds the success body. When the worker's object has no `task_id` or `status` of its own,
 * its bytes are spliced after the relay's two keys instead of re-serialising the result (the
 * hot path for large results); otherwise the merged object is serialised. (One contiguous
 * buffer: measured faster for large bodies than a corked two-part write.)
 */
function completedBody (taskId: string, answer: ForwardResult): Buffer {
  const { result, raw } = answer
  if (Object.hasOwn(result, 'task_id') || Object.hasOwn(result, 'status')) {
    return Buffer.from(JSON.stringify({ task_id: taskId, status: 'completed', ...result }), 'utf8')
  }
  let open = 0
  while (isJsonSpace(raw[open])) open++
  let next = open + 1
  while (isJsonSpace(raw[next])) next++
  const head = `{"task_id":${JSON.stringify(taskId)},"status":"completed"`
  // raw[open] is '{' because the result parsed as a JSON object.
  if (raw[next] === 0x7d) return Buffer.from(`${head}}`, 'utf8')
  const headBytes = Buffer.from(`${head},`, 'utf8')
  return Buffer.concat([headBytes, raw.subarray(open + 1)], headBytes.length + raw.length - open - 1)
}

/** Writes the 200 success answer. */
export function sendCompleted (res: ServerResponse, taskId: string, answer: ForwardResult): void {
  sendJsonBytes(res, 200, completedBody(taskId, answer))
}

/**
 * Maps a forwarding failure to its HTTP answer: 404 IICP-E030 (no alive session), 429
 * IICP-E021 with Retry-After (too many calls in flight), 500 `{"task_id","status":"error",
 * "error":{"message"}}` (the worker failed or answered garbage), 503 `fleet_unavailable` with
 * Retry-After (a fleet relay could not look up the worker's owner), 502 IICP-E031 otherwise.
 */
export function sendForwardError (res: ServerResponse, err: unknown, taskId: string, notFoundMessage: string): void {
  if (res.headersSent || res.destroyed) return
  const code = isToolkitError(err) ? err.code : undefined
  if (code === ErrorCode.SessionNotFound) {
    sendError(res, 404, IicpCode.NoSession, notFoundMessage)
  } else if (code === ErrorCode.SessionBusy) {
    sendError(res, 429, IicpCode.Capacity, `capacity_exceeded: ${errorMessage(err)}`, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) })
  } else if (code === ErrorCode.FleetUnavailable) {
    sendError(res, 503, 'fleet_unavailable', errorMessage(err), { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) })
  } else if (code === ErrorCode.WorkerError || code === ErrorCode.BadResult) {
    sendJson(res, 500, { task_id: taskId, status: 'error', error: { message: errorMessage(err) } })
  } else {
    sendError(res, 502, IicpCode.ForwardFailed, `relay session forward failed: ${errorMessage(err)}`)
  }
}
