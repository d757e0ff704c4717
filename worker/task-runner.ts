/**
 * Runs the tasks of one bound session: at most `maxConcurrent` at once, up to `maxQueued`
 * waiting, and an immediate `{"error":"worker at capacity"}` answer beyond that. Every CALL is
 * answered exactly once, never with silence; answers go out in completion order.
 */
import { raceSignal } from '../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../src/errors.ts'
import { stringifyJsonBytes } from '../src/http/json-large-stringify.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../src/limits.ts'
import type { Logger } from '../src/log.ts'
import { allocBodyWithFrameRoom } from '../src/protocol/body-frame.ts'
import { encodeResponse } from '../src/protocol/messages.ts'
import { createTokenBucketLimiter } from '../src/rate-limit.ts'
import type { Task, TaskHandler } from './options.ts'

/** The answer to a CALL that arrives when the running and queued tasks are at their caps. */
export const CAPACITY_ERROR = 'worker at capacity'

/** Options for {@link createTaskRunner}. */
export interface TaskRunnerOptions {
  /** Runs one task. */
  handler: TaskHandler
  /** Tasks running at once. */
  maxConcurrent: number
  /** Tasks waiting for a slot. */
  maxQueued: number
  /** Deadline of one running task. */
  taskTimeoutMs: number
  /**
   * Writes a RESPONSE frame. It must queue the frame synchronously, then may wait for the
   * socket to drain; the task's slot stays taken until it resolves (backpressure).
   */
  send: (frame: Buffer) => Promise<void>
  /** Logger for per-task events. */
  logger: Logger
}

/** The task runner of one session. */
export interface TaskRunner {
  /** Runs, queues or refuses a task; the call is always answered. */
  submit: (callId: string, task: unknown) => void
  /** Answers a call directly (used for CALLs that could not be decoded). */
  answer: (callId: string, result: unknown) => void
  /** Tasks running now. */
  readonly running: number
  /** Tasks waiting for a slot. */
  readonly queued: number
  /** From now on every new CALL is answered `{"error": message}` at once. */
  closeIntake: (message: string) => void
  /** Resolves when nothing is running or queued. */
  whenIdle: () => Promise<void>
  /**
   * Aborts every running task through its signal with `reason` and answers queued ones with
   * `{"error": reason.message}`. Resolves once every answer has been queued on the socket,
   * even if a handler ignores its signal. Later CALLs are refused with the same message.
   */
  abortAll: (reason: ToolkitError) => Promise<void>
}

interface RunningTask {
  readonly callId: string
  readonly controller: AbortController
  /** Resolves once the answer is queued on the socket. */
  readonly answered: Promise<void>
}

/**
 * The JSON body for `result`: `null` for undefined, an error object for unserializable or
 * oversized results. Small results stay a string, which the RESPONSE encoder writes as UTF-8
 * into the frame; a result carrying large strings is written as UTF-8 bytes once, into a
 * buffer the RESPONSE frame is then built around (json-large-stringify.ts).
 */
export function encodeResultBody (callId: string, result: unknown): string | Buffer {
  let json: string | Buffer | undefined
  try {
    json = stringifyJsonBytes(result, allocBodyWithFrameRoom)
  } catch (err) {
    json = JSON.stringify({ error: `task result is not JSON-serializable: ${errorMessage(err)}` })
  }
  json ??= 'null'
  // Payload = map head, key 5, bstr head (≤ 5), body, key 15, tstr head (≤ 5), call id.
  const limit = MAX_FRAME_PAYLOAD_BYTES - 16 - Buffer.byteLength(callId, 'utf8')
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only long texts need their exact size.
  const bytes = typeof json !== 'string' ? json.length : json.length * 3 <= limit ? 0 : Buffer.byteLength(json, 'utf8')
  if (bytes > limit) return JSON.stringify({ error: `task result of ${bytes} bytes exceeds the ${limit}-byte frame limit` })
  return json
}

/** Failed tasks (a backend refusing, a handler throwing) are logged at warn at most this often per second, in bursts of {@link FAILURE_LOG_BURST}. */
const FAILURE_LOGS_PER_SECOND = 1
const FAILURE_LOG_BURST = 10

/** Creates the task runner of one session. */
export function createTaskRunner (options: TaskRunnerOptions): TaskRunner {
  const { handler, maxConcurrent, maxQueued, taskTimeoutMs, send, logger } = options
  const failureLog = createTokenBucketLimiter({ perSecond: FAILURE_LOGS_PER_SECOND, burst: FAILURE_LOG_BURST, maxKeys: 1 })
  const running = new Set<RunningTask>()
  const queue: Array<{ callId: string, task: Task }> = []
  let idleWaiters: Array<() => void> = []
  let refusal: string | undefined

  /** Queues the RESPONSE synchronously; the returned promise settles after drain and never rejects. */
  async function sendAnswer (callId: string, result: unknown): Promise<void> {
    try {
      await send(encodeResponse(callId, encodeResultBody(callId, result)))
    } catch (err) {
      logger.debug({ err, callId }, 'RESPONSE not delivered')
    }
  }

  function answer (callId: string, result: unknown): void {
    void sendAnswer(callId, result)
  }

  function checkIdle (): void {
    if (running.size > 0 || queue.length > 0) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const w of waiters) w()
  }

  function pump (): void {
    while (running.size < maxConcurrent && queue.length > 0) {
      const next = queue.shift()
      if (next !== undefined) start(next.callId, next.task)
    }
    checkIdle()
  }

  function start (callId: string, task: Task): void {
    const controller = new AbortController()
    const timer = setTimeout(() => {
      controller.abort(new ToolkitError(ErrorCode.HandlerFailed, `task timed out after ${taskTimeoutMs} ms`, { details: { timeoutMs: taskTimeoutMs } }))
    }, taskTimeoutMs)
    timer.unref()
    let markAnswered: () => void = () => {}
    const answered = new Promise<void>(resolve => { markAnswered = resolve })
    const entry: RunningTask = { callId, controller, answered }
    running.add(entry)
    const execute = async (): Promise<void> => {
      let result: unknown
      try {
        const work = Promise.resolve().then(() => handler(task, { callId, signal: controller.signal }))
        result = await raceSignal(work, controller.signal, 'task')
      } catch (err) {
        // Failures the operator must see (backend down, handler bug) at warn; cancellations by stop at debug.
        if (!isToolkitError(err, ErrorCode.Aborted) && failureLog.take('all')) logger.warn({ callId, code: isToolkitError(err) ? err.code : undefined, reason: errorMessage(err) }, 'task failed')
        else logger.debug({ err, callId }, 'task failed')
        result = { error: errorMessage(err) }
      }
      clearTimeout(timer)
      const sending = sendAnswer(callId, result)
      markAnswered()
      await sending
    }
    void execute().finally(() => {
      running.delete(entry)
      pump()
    })
  }

  return {
    submit (callId: string, task: unknown): void {
      if (typeof task !== 'object' || task === null || Array.isArray(task)) {
        logger.warn({ callId }, 'task is not a JSON object')
        answer(callId, { error: 'task is not a JSON object' })
      } else if (refusal !== undefined) {
        answer(callId, { error: refusal })
      } else if (running.size < maxConcurrent) {
        start(callId, task as Task)
      } else if (queue.length < maxQueued) {
        queue.push({ callId, task: task as Task })
      } else {
        logger.warn({ callId, running: running.size, queued: queue.length }, 'worker at capacity: CALL refused')
        answer(callId, { error: CAPACITY_ERROR })
      }
    },
    answer,
    get running () { return running.size },
    get queued () { return queue.length },
    closeIntake (message: string): void {
      refusal ??= message
    },
    async whenIdle (): Promise<void> {
      if (running.size === 0 && queue.length === 0) return
      await new Promise<void>(resolve => { idleWaiters.push(resolve) })
    },
    async abortAll (reason: ToolkitError): Promise<void> {
      refusal ??= reason.message
      for (const q of queue.splice(0)) answer(q.callId, { error: reason.message })
      const entries = [...running]
      for (const e of entries) e.controller.abort(reason)
      await Promise.all(entries.map(async e => { await e.answered }))
      checkIdle()
    }
  }
}
