/**
 * The HTTP answers to a forwarded task. Success is `{"task_id", "status":"completed", …worker
 * result keys}` (the worker's keys override, spec §4.3), spliced from the worker's bytes. A
 * worker failure is HTTP 500 in the direct node's `/v1/task` error shape, keeping what the
 * worker said; transport failures are JSON errors with IICP codes.
 */
import { ByteChunks } from '../src/byte-chunks.ts'
import { ErrorCode, IicpCode, isToolkitError, errorMessage } from '../src/errors.ts'
import type { AnswerWriter } from '../src/http/json-response.ts'
import { CORS_HEADERS } from './cors.ts'
import type { ForwardResult } from './forwarder.ts'
import { sendError, sendJson, sendJsonBytes } from './http-io.ts'
import { WorkerAnswer } from './worker-answer.ts'

/** Seconds a caller refused for too many calls in flight should wait (Retry-After). */
const BUSY_RETRY_AFTER_SECONDS = 1

/** Up to this size the relay's head and the worker's bytes are joined into one buffer; above, written corked as two. */
const SPLICE_COPY_MAX_BYTES = 64 * 1024

/**
 * Writes the 200 success answer. When the worker's object has no `task_id` or `status` of its
 * own, its bytes follow the relay's two keys as they are (no parse, no re-serialisation, and
 * for large answers no copy); otherwise the merged object is serialised.
 */
export function sendCompleted (res: AnswerWriter, taskId: string, answer: ForwardResult): void {
  if (!(answer instanceof WorkerAnswer) || answer.overridesRelayKeys) {
    sendJson(res, 200, { task_id: taskId, status: 'completed', ...answer.result })
    return
  }
  const head = `{"task_id":${JSON.stringify(taskId)},"status":"completed"`
  if (answer.empty) {
    sendJsonBytes(res, 200, Buffer.from(`${head}}`, 'utf8'))
    return
  }
  const headBytes = Buffer.from(`${head},`, 'utf8')
  // The worker's bytes after its `{`: a large answer's chunks as they came in, else one view.
  const { bytes } = answer
  let tail: readonly Buffer[]
  let tailLength: number
  if (bytes instanceof ByteChunks) {
    const rest = bytes.range(answer.open + 1)
    tail = rest.parts
    tailLength = rest.length
  } else {
    const rest = bytes.subarray(answer.open + 1)
    tail = [rest]
    tailLength = rest.length
  }
  if (tailLength <= SPLICE_COPY_MAX_BYTES) {
    sendJsonBytes(res, 200, Buffer.concat([headBytes, ...tail], headBytes.length + tailLength))
    return
  }
  res.writeHead(200, { ...CORS_HEADERS, 'content-type': 'application/json', 'content-length': headBytes.length + tailLength })
  res.cork()
  res.write(headBytes)
  for (const part of tail) res.write(part)
  res.end()
  res.uncork()
}

/**
 * The 500 body of a worker failure: the direct node's `{"task_id","status":"error","error":{"message"}}`,
 * keeping the worker's error object (a string error becomes `{"message"}`, an object without a
 * string `message` gets one) and its other members (but not its `task_id` or `status`).
 */
function workerFailureBody (taskId: string, err: unknown): Record<string, unknown> {
  const message = errorMessage(err)
  const answer = isToolkitError(err) ? err.details?.answer : undefined
  if (typeof answer !== 'object' || answer === null) return { task_id: taskId, status: 'error', error: { message } }
  const { error, task_id: _taskId, status: _status, ...others } = answer as Record<string, unknown>
  const errorObject = typeof error === 'object' && error !== null && !Array.isArray(error)
    ? (typeof (error as { message?: unknown }).message === 'string' ? error : { ...error, message })
    : { message }
  return { task_id: taskId, status: 'error', error: errorObject, ...others }
}

/**
 * Maps a forwarding failure to its HTTP answer: 404 IICP-E030 (no alive session), 429
 * IICP-E021 with Retry-After (too many calls in flight), 500 `{"task_id","status":"error",
 * "error":{"message",…},…}` (the worker failed or answered garbage), 503 `fleet_unavailable` with
 * Retry-After (a fleet relay could not look up the worker's owner), 502 IICP-E031 otherwise.
 */
export function sendForwardError (res: AnswerWriter, err: unknown, taskId: string, notFoundMessage: string): void {
  if (res.headersSent || res.destroyed) return
  const code = isToolkitError(err) ? err.code : undefined
  if (code === ErrorCode.SessionNotFound) {
    sendError(res, 404, IicpCode.NoSession, notFoundMessage)
  } else if (code === ErrorCode.SessionBusy) {
    sendError(res, 429, IicpCode.Capacity, `capacity_exceeded: ${errorMessage(err)}`, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) })
  } else if (code === ErrorCode.FleetUnavailable) {
    sendError(res, 503, 'fleet_unavailable', errorMessage(err), { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) })
  } else if (code === ErrorCode.WorkerError || code === ErrorCode.BadResult) {
    sendJson(res, 500, workerFailureBody(taskId, err))
  } else {
    sendError(res, 502, IicpCode.ForwardFailed, `relay session forward failed: ${errorMessage(err)}`)
  }
}
