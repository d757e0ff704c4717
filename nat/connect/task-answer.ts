/**
 * Shapes a worker's raw result, received on a direct channel, into the same HTTP answer the relay
 * gives for it (spec §4.3, relay/task-answer.ts), so a caller cannot tell the paths apart: 200
 * `{"task_id","status":"completed", …result}`, or 500 `{"task_id","status":"error","error":{"message",…},…}`
 * when the worker reported a failure or answered something that is not one JSON object. Like
 * the relay, a success is not parsed: a bounded scan (src/http/json-members.ts) checks it is one
 * object and finds its `error`, `result`, `task_id` and `status`, and the worker's bytes follow
 * the two added keys as they are; only failures and answers with their own `task_id`/`status`
 * are parsed. A task is not parsed either on its way out ({@link directTaskId}).
 */
import { isNullOrFalse, jsonNames, jsonStringAt, scanJson, type JsonScan } from '../../src/http/json-members.ts'
import { parseJsonBytes } from '../../src/http/json-text.ts'
import { CONNECT_INTENT } from '../../src/protocol/connect-intent.ts'
import type { HttpAnswer } from './relay-path.ts'

const ANSWER_NAMES = jsonNames(['error', 'result', 'task_id', 'status'])
const TASK_NAMES = jsonNames(['task_id', 'intent'])
const ERROR = 0
const RESULT = 1
const TASK_ID = 2
const STATUS = 3

function json (status: number, value: unknown): HttpAnswer {
  return { status, body: Buffer.from(JSON.stringify(value), 'utf8') }
}

function failureMessage (error: unknown): string {
  if (typeof error === 'string') return error
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message
  return error === null || error === undefined ? 'worker error' : JSON.stringify(error)
}

/** The relay's 500 body for a worker's failure answer: its error object (with a `message`) and other members kept. */
function failure (taskId: string, answer: Record<string, unknown>): HttpAnswer {
  const { error, task_id: _taskId, status: _status, ...others } = answer
  const message = failureMessage(error)
  const errorObject = typeof error === 'object' && error !== null && !Array.isArray(error)
    ? (typeof (error as { message?: unknown }).message === 'string' ? error : { ...error, message })
    : { message }
  return json(500, { task_id: taskId, status: 'error', error: errorObject, ...others })
}

function badResult (taskId: string, message: string): HttpAnswer {
  return json(500, { task_id: taskId, status: 'error', error: { message } })
}

/** The HTTP answer for a worker's raw RESPONSE body to the task `taskId`. */
export function answerFromWorkerResult (taskId: string, raw: Buffer): HttpAnswer {
  let scan: JsonScan
  try {
    scan = scanJson(raw, ANSWER_NAMES)
  } catch {
    return badResult(taskId, 'worker returned a result that is not valid JSON')
  }
  if (!scan.isObject) return badResult(taskId, 'worker returned a result that is not a JSON object')
  const error = scan.spans[ERROR]
  const failed = error !== undefined && !isNullOrFalse(error) && scan.spans[RESULT] === undefined
  if (failed || scan.spans[TASK_ID] !== undefined || scan.spans[STATUS] !== undefined) {
    let answer: Record<string, unknown>
    try {
      answer = parseJsonBytes(raw) as Record<string, unknown>
    } catch {
      // A raw control character in a string: the one thing the scan does not look for.
      return badResult(taskId, 'worker returned a result that is not valid JSON')
    }
    return failed ? failure(taskId, answer) : json(200, { task_id: taskId, status: 'completed', ...answer })
  }
  const head = `{"task_id":${JSON.stringify(taskId)},"status":"completed"`
  if (scan.members === 0) return { status: 200, body: Buffer.from(`${head}}`, 'utf8') }
  const headBytes = Buffer.from(`${head},`, 'utf8')
  const tail = raw.subarray(scan.open + 1)
  return { status: 200, body: Buffer.concat([headBytes, tail], headBytes.length + tail.length) }
}

/**
 * The `task_id` of a task body that may take the direct channel (`''` when it has none), read by
 * a scan, not a parse: undefined when the body is not one JSON object (the relay answers it with
 * its own 400) or is a connect task (those always go through the relay).
 */
export function directTaskId (taskJson: Uint8Array): string | undefined {
  const body = Buffer.from(taskJson.buffer, taskJson.byteOffset, taskJson.byteLength)
  let scan: JsonScan
  try {
    scan = scanJson(body, TASK_NAMES)
  } catch {
    return undefined
  }
  if (!scan.isObject || jsonStringAt(body, scan.spans[1]) === CONNECT_INTENT) return undefined
  return jsonStringAt(body, scan.spans[0]) ?? ''
}
