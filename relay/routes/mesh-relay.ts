/**
 * `POST /v1/relay {"target_node_id", "task"}` (ADR-022 mesh relay, spec §4.1), for targets
 * bound to this relay. This relay has no gossip peer list, so any other target is 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { IicpCode } from '../../src/errors.ts'
import { parseJsonObject, readBody } from '../../src/http/read-body.ts'
import { sendBodyError, sendError } from '../http-io.ts'
import { sendCompleted, sendForwardError } from '../task-answer.ts'
import type { RouteContext } from './context.ts'

const UNKNOWN_TARGET = 'target is not a bound relay worker'

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
  let target: string
  let task: Record<string, unknown>
  try {
    const body = parseJsonObject(await readBody(req, ctx.maxRequestBodyBytes, signal))
    const t = body.task
    if (typeof body.target_node_id !== 'string' || body.target_node_id === '' || typeof t !== 'object' || t === null || Array.isArray(t)) {
      sendError(res, 422, IicpCode.MissingFields, 'target_node_id (string) and task (object) are required')
      return
    }
    target = body.target_node_id
    task = t as Record<string, unknown>
  } catch (err) {
    sendBodyError(res, err)
    return
  }
  const taskId = typeof task.task_id === 'string' ? task.task_id : ''
  try {
    sendCompleted(res, taskId, await ctx.forwarder.forward(target, Buffer.from(JSON.stringify(task), 'utf8'), { signal }))
  } catch (err) {
    sendForwardError(res, err, taskId, UNKNOWN_TARGET)
  }
}
