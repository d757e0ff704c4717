/**
 * Shapes a worker's raw result, received on a direct channel, into the same HTTP answer the relay
 * gives for it (spec §4.3), so a caller cannot tell the paths apart: 200 `{"task_id",
 * "status":"completed", …result}`, or 500 `{"task_id","status":"error","error":{"message"}}` when
 * the worker reported a failure or answered something that is not a JSON object.
 */
import type { HttpAnswer } from './relay-path.ts'

function json (status: number, value: unknown): HttpAnswer {
  return { status, body: Buffer.from(JSON.stringify(value), 'utf8') }
}

function failureMessage (error: unknown): string {
  if (typeof error === 'string') return error
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message
  return error === null || error === undefined ? 'worker error' : JSON.stringify(error)
}

/** The HTTP answer for a worker's raw RESPONSE body to the task `taskId`. */
export function answerFromWorkerResult (taskId: string, raw: Buffer): HttpAnswer {
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch {
    return json(500, { task_id: taskId, status: 'error', error: { message: 'worker returned a result that is not valid JSON' } })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return json(500, { task_id: taskId, status: 'error', error: { message: 'worker returned a result that is not a JSON object' } })
  }
  const result = value as Record<string, unknown>
  if (Object.hasOwn(result, 'error') && !Object.hasOwn(result, 'result')) {
    return json(500, { task_id: taskId, status: 'error', error: { message: failureMessage(result.error) } })
  }
  return json(200, { task_id: taskId, status: 'completed', ...result })
}
