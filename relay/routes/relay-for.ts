/**
 * The path-scoped worker endpoints consumers call (spec §4.3): `POST
 * /v1/relay-for/{wid}/v1/task` forwards the task body to the worker's session, and `GET
 * /v1/relay-for/{wid}/iicp/health` answers the directory's liveness probe.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ByteChunks } from '../../src/byte-chunks.ts'
import { IicpCode } from '../../src/errors.ts'
import { jsonNames, jsonStringAt } from '../../src/http/json-members.ts'
import type { AnswerWriter } from '../../src/http/json-response.ts'
import { declaredLength, readBody, readJsonObjectChunks, scanJsonObject } from '../../src/http/read-body.ts'
import { CHUNKED_BODY_BYTES } from '../../src/limits.ts'
import { allocBodyWithFrameRoom } from '../../src/protocol/body-frame.ts'
import { sendBodyError, sendError, sendJson } from '../http-io.ts'
import { sendCompleted, sendForwardError } from '../task-answer.ts'
import type { RouteContext } from './context.ts'

const NO_SESSION = 'no alive relay session for this worker'
/** The task member the relay reads: `task_id`, for the answer. */
export const TASK_NAMES = jsonNames(['task_id'])

/**
 * `POST /v1/relay-for/{wid}/v1/task`: the body is forwarded byte for byte as CALL key 5. It is
 * checked to be one JSON object (else 400) and its `task_id` read by a scan, not a parse. A
 * large body for a local session stays in the chunks it arrived in, all the way to the worker.
 */
export async function relayForTask (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, workerId: string, signal: AbortSignal): Promise<void> {
  const local = ctx.registry.alive(workerId) !== undefined
  if (!local && ctx.remote === undefined) {
    // Answered before reading the body; the rest of the body is discarded by node:http.
    ctx.metrics.call('no_session')
    sendError(res, 404, IicpCode.NoSession, NO_SESSION)
    return
  }
  let body: Buffer | ByteChunks
  let taskId: string
  try {
    if (local && declaredLength(req) >= CHUNKED_BODY_BYTES) {
      const read = await readJsonObjectChunks(req, ctx.maxRequestBodyBytes, TASK_NAMES, signal)
      body = read.body
      taskId = jsonStringAt(read.body, read.scan.spans[0]) ?? ''
    } else {
      // For a local session: read into a buffer the CALL frame is then built around, without
      // copying the body again. A call for another relay of a fleet goes into a link frame instead.
      const whole = await readBody(req, ctx.maxRequestBodyBytes, signal, local ? allocBodyWithFrameRoom : undefined)
      taskId = jsonStringAt(whole, scanJsonObject(whole, TASK_NAMES).spans[0]) ?? ''
      body = whole
    }
  } catch (err) {
    sendBodyError(res, err)
    return
  }
  await answerTask(ctx, res, workerId, body, taskId, signal)
}

/**
 * Forwards a task body that has been read and checked (a JSON object with `task_id` found) to
 * the worker and writes the HTTP answer: the spliced result, or the error for what failed.
 */
export async function answerTask (ctx: RouteContext, res: AnswerWriter, workerId: string, body: Buffer | ByteChunks, taskId: string, signal: AbortSignal): Promise<void> {
  try {
    sendCompleted(res, taskId, await ctx.forwarder.forward(workerId, body, { signal }))
  } catch (err) {
    sendForwardError(res, err, taskId, NO_SESSION)
  }
}

/**
 * `GET /v1/relay-for/{wid}/iicp/health`: 200 with the models from RELAY_BIND while alive (in a
 * fleet: on any relay of the fleet), else 404 IICP-E030.
 */
export async function relayForHealth (ctx: RouteContext, res: ServerResponse, workerId: string, signal: AbortSignal): Promise<void> {
  let models = ctx.registry.alive(workerId)?.models
  if (models === undefined && ctx.remote !== undefined) {
    try {
      models = (await ctx.remote.health(workerId, signal))?.models
    } catch (err) {
      sendForwardError(res, err, '', NO_SESSION)
      return
    }
  }
  if (models === undefined) {
    sendError(res, 404, IicpCode.NoSession, NO_SESSION)
    return
  }
  sendJson(res, 200, { status: 'ok', node_id: workerId, via_relay: true, models })
}
