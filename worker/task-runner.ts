/**
 * Runs the tasks of one bound session: at most `maxConcurrent` at once, up to `maxQueued`
 * waiting, and an immediate `{"error":"worker at capacity"}` answer beyond that. Every CALL is
 * answered exactly once, never with silence; answers go out in completion order.
 */
import { DeadlineQueue, type Deadline } from '../src/deadline-queue.ts'
import { LinkedSet, type LinkedNode } from '../src/linked-set.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../src/errors.ts'
import { stringifyJsonBytes } from '../src/http/json-large-stringify.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../src/limits.ts'
import type { Logger } from '../src/log.ts'
import { allocBodyWithFrameRoom } from '../src/protocol/body-frame.ts'
import { encodeResponse } from '../src/protocol/messages.ts'
import { createTokenBucketLimiter } from '../src/rate-limit.ts'
import type { Task, TaskContext, TaskHandler } from './options.ts'

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
   * Writes a RESPONSE frame. It must queue the frame synchronously; it returns nothing when the
   * frame is written without waiting, or a promise that settles once the socket has drained: the
   * task's slot stays taken until then (backpressure). It may throw or reject (connection gone).
   */
  send: (frame: Buffer) => Promise<void> | undefined
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
   * Answers every running and queued task `{"error": reason.message}` now (the answers are
   * queued on the socket before it returns, whatever a handler does) and fires the running
   * tasks' signals with `reason`. Later CALLs are refused with the same message.
   */
  abortAll: (reason: ToolkitError) => void
}

/** A handler's return value that `await` would treat as a promise. */
function isThenable (value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/** Called once when a task settles, with its answer (`failed`: an error answer for `err`). */
type TaskSettled = (task: RunningTask, result: unknown, failed: boolean, err: unknown) => void

/**
 * One running task. It settles exactly once: with its handler's result or failure, at its
 * deadline, or when aborted; an abort or timeout answers at once and then fires the signal the
 * handler was given. Nothing listens on that signal here, and the deadline is an entry in the
 * runner's {@link DeadlineQueue}, not a timer of its own.
 */
class RunningTask {
  readonly callId: string
  /** Its place among the runner's unsettled tasks. */
  node: LinkedNode<RunningTask> | undefined
  /** What the handler gets: the call id and the task's signal (a plain object, so a spread keeps both). */
  readonly context: TaskContext
  readonly #deadlines: DeadlineQueue
  readonly #deadline: Deadline
  readonly #onSettled: TaskSettled
  readonly #controller = new AbortController()
  #settled = false

  constructor (callId: string, deadlines: DeadlineQueue, timeoutMs: number, onSettled: TaskSettled) {
    this.callId = callId
    this.#deadlines = deadlines
    this.#onSettled = onSettled
    this.context = { callId, signal: this.#controller.signal }
    this.#deadline = deadlines.add(timeoutMs, () => {
      this.abort(new ToolkitError(ErrorCode.HandlerFailed, `task timed out after ${timeoutMs} ms`, { details: { timeoutMs } }))
    })
  }

  /** The handler returned (or its promise resolved with) `result`. */
  settle (result: unknown): void {
    if (this.#begin()) this.#onSettled(this, result, false, undefined)
  }

  /** The handler threw or its promise rejected. */
  fail (err: unknown): void {
    if (this.#begin()) this.#onSettled(this, { error: errorMessage(err) }, true, err)
  }

  /** Stops the task: its signal fires with `reason`, and it is answered `{"error": reason.message}` now. */
  abort (reason: ToolkitError): void {
    if (this.#settled) return
    this.fail(reason)
    this.#controller.abort(reason)
  }

  #begin (): boolean {
    if (this.#settled) return false
    this.#settled = true
    this.#deadlines.remove(this.#deadline)
    return true
  }
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
  /** Tasks holding a slot: running, or settled with their answer not yet written. */
  let slots = 0
  /** The unsettled tasks (a linked list: a Set here would have its tasks promoted, see linked-set.ts). */
  const unsettled = new LinkedSet<RunningTask>()
  const deadlines = new DeadlineQueue()
  const queue: Array<{ callId: string, task: Task }> = []
  let idleWaiters: Array<() => void> = []
  let refusal: string | undefined

  /**
   * Queues the RESPONSE synchronously. Returns nothing when it is written, or a promise that
   * settles once the socket has drained and never rejects.
   */
  function sendAnswer (callId: string, result: unknown): Promise<void> | undefined {
    let written: Promise<void> | undefined
    try {
      written = send(encodeResponse(callId, encodeResultBody(callId, result)))
    } catch (err) {
      undelivered(callId, err)
      return undefined
    }
    return written?.catch((err: unknown) => { undelivered(callId, err) })
  }

  function undelivered (callId: string, err: unknown): void {
    logger.debug({ err, callId }, 'RESPONSE not delivered')
  }

  function answer (callId: string, result: unknown): void {
    void sendAnswer(callId, result)
  }

  /** The answer of a task holding a slot is written: frees the slot, starts a queued task in a microtask (never nested in this one's call). */
  function release (): void {
    slots--
    if (queue.length > 0) queueMicrotask(pump)
    else checkIdle()
  }

  function checkIdle (): void {
    if (slots > 0 || queue.length > 0) return
    const waiters = idleWaiters
    idleWaiters = []
    for (const w of waiters) w()
  }

  function pump (): void {
    while (slots < maxConcurrent && queue.length > 0) {
      const next = queue.shift()
      if (next !== undefined) start(next.callId, next.task)
    }
    checkIdle()
  }

  function start (callId: string, task: Task): void {
    const entry = new RunningTask(callId, deadlines, taskTimeoutMs, finish)
    slots++
    entry.node = unsettled.add(entry)
    try {
      const result = handler(task, entry.context)
      // A thenable is awaited as `await` would; anything else is the answer, sent in this turn.
      // (Reading `then` may throw too: a getter; that is the task's failure, as with `await`.)
      if (isThenable(result)) Promise.resolve(result).then(value => { entry.settle(value) }, (err: unknown) => { entry.fail(err) })
      else entry.settle(result)
    } catch (err) {
      entry.fail(err)
    }
  }

  /** The task settled (answered, failed, timed out or aborted): its answer is queued now, its slot freed once it is written. */
  function finish (entry: RunningTask, result: unknown, failed: boolean, err: unknown): void {
    if (entry.node !== undefined) unsettled.delete(entry.node)
    if (failed) {
      // Failures the operator must see (backend down, handler bug) at warn; cancellations by stop at debug.
      if (!isToolkitError(err, ErrorCode.Aborted) && failureLog.take('all')) logger.warn({ callId: entry.callId, code: isToolkitError(err) ? err.code : undefined, reason: errorMessage(err) }, 'task failed')
      else logger.debug({ err, callId: entry.callId }, 'task failed')
    }
    const written = sendAnswer(entry.callId, result)
    if (written === undefined) release()
    else void written.then(release)
  }

  return {
    submit (callId: string, task: unknown): void {
      if (typeof task !== 'object' || task === null || Array.isArray(task)) {
        logger.warn({ callId }, 'task is not a JSON object')
        answer(callId, { error: 'task is not a JSON object' })
      } else if (refusal !== undefined) {
        answer(callId, { error: refusal })
      } else if (slots < maxConcurrent) {
        start(callId, task as Task)
      } else if (queue.length < maxQueued) {
        queue.push({ callId, task: task as Task })
      } else {
        logger.warn({ callId, running: slots, queued: queue.length }, 'worker at capacity: CALL refused')
        answer(callId, { error: CAPACITY_ERROR })
      }
    },
    answer,
    get running () { return slots },
    get queued () { return queue.length },
    closeIntake (message: string): void {
      refusal ??= message
    },
    async whenIdle (): Promise<void> {
      if (slots === 0 && queue.length === 0) return
      await new Promise<void>(resolve => { idleWaiters.push(resolve) })
    },
    abortAll (reason: ToolkitError): void {
      refusal ??= reason.message
      for (const q of queue.splice(0)) answer(q.callId, { error: reason.message })
      // Each abort queues that task's answer at once, whatever its handler does with the signal.
      for (const e of unsettled.toArray()) e.abort(reason)
      checkIdle()
    }
  }
}
