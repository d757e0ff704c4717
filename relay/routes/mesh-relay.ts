/**
 * `POST /v1/relay {"target_node_id", "task"}` (ADR-022 mesh relay, spec §4.1), for targets
 * bound to this relay. The body is scanned, not parsed, and the task's bytes are forwarded as
 * they came. This relay has no gossip peer list, so any other target is 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { IicpCode } from '../../src/errors.ts'
import { jsonNames, jsonStringAt, scanJson } from '../../src/http/json-members.ts'
import { readBody, scanJsonObject } from '../../src/http/read-body.ts'
import { sendBodyError, sendError } from '../http-io.ts'
import { sendCompleted, sendForwardError } from '../task-answer.ts'
import type { RouteContext } from './context.ts'

const UNKNOWN_TARGET = 'target is not a bound relay worker'
const MESH_NAMES = jsonNames(['target_node_id', 'task'])
const TASK_NAMES = jsonNames(['task_id'])
const OPEN_OBJECT = 0x7b

/**
 * Handles `POST /v1/relay`. Missing or ill-typed fields → 422 IICP-E000 (JSON, as Rust;
 * Python sends HTML); a target without an alive session → 404 IICP-E030.
 *
 * The success body is the same as relay-for's: `{"task_id", "status":"completed", …worker
 * result keys}`. The upstream SDKs disagree here (Rust `{"status":"success","result":r}`,
 * Python the merged shape plus `generated_by_ai`). Using the relay-for shape gives a
 * consumer one body whichever relay endpoint it used, matches Python (which callers already
 * handle), and does not wrap the worker's own `{"result": …}` a second time as Rust does.
 */
export async function meshRelay (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
  let target: string | undefined
  let task: Buffer
  let taskId: string
  try {
    const body = await readBody(req, ctx.maxRequestBodyBytes, signal)
    const [targetSpan, taskSpan] = scanJsonObject(body, MESH_NAMES).spans
    target = jsonStringAt(body, targetSpan)
    if (target === undefined || target === '' || taskSpan === undefined || body[taskSpan.start] !== OPEN_OBJECT) {
      sendError(res, 422, IicpCode.MissingFields, 'target_node_id (string) and task (object) are required')
      return
    }
    // The task's own bytes are forwarded (already checked by the scan of the whole body).
    task = body.subarray(taskSpan.start, taskSpan.end)
    taskId = jsonStringAt(task, scanJson(task, TASK_NAMES).spans[0]) ?? ''
  } catch (err) {
    sendBodyError(res, err)
    return
  }
  try {
    sendCompleted(res, taskId, await ctx.forwarder.forward(target, task, { signal }))
  } catch (err) {
    sendForwardError(res, err, taskId, UNKNOWN_TARGET)
  }
}
