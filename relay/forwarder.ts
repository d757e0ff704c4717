/**
 * Forwarding tasks into bound sessions, for the HTTP front and for library users: session
 * lookup, the call itself, the interpretation of the worker's answer (a worker failure is an
 * error, not a result), and the call metrics.
 */
import type { Bytes } from '../src/byte-chunks.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../src/errors.ts'
import type { LifecycleEvent } from '../src/protocol/messages.ts'
import type { Logger } from '../src/log.ts'
import { createTokenBucketLimiter } from '../src/rate-limit.ts'
import { callTarget, type RemoteCalls } from './fleet-plugin.ts'
import type { CallOutcome, RelayMetrics } from './metrics.ts'
import type { SessionRegistry } from './session-registry.ts'
import { interpretWorkerAnswer } from './worker-answer.ts'

/** Options for one forwarded call. */
export interface ForwardOptions {
  /** Cancels the call (e.g. the HTTP caller went away). */
  signal?: AbortSignal | undefined
  /** Deadline for the worker's answer (for streams: for each event). @default the relay's forwardTimeoutMs */
  timeoutMs?: number | undefined
}

/** A worker's successful answer to a forwarded task. */
export interface ForwardResult {
  /**
   * The worker's whole answer object (RESPONSE key 5 parsed as JSON on first read), as the worker sent it:
   * for a worker answering `{"result": {...}}` it is `{ result: {...} }`, so the task's own
   * result is `result.result` (name it on the way out: `const { result: answer } = …`).
   */
  result: Record<string, unknown>
  /** The same answer as the UTF-8 JSON bytes the worker sent. */
  raw: Buffer
}

/** Forwards tasks to bound workers by worker id. */
export interface Forwarder {
  /**
   * Forwards `taskJson` (UTF-8 JSON of a task object, one buffer or chunks) to `workerId`. Rejects with a
   * ToolkitError: ERR_SESSION_NOT_FOUND, ERR_SESSION_BUSY, ERR_SESSION_CLOSED,
   * ERR_FORWARD_TIMEOUT, ERR_ABORTED, ERR_WORKER_ERROR (`details.message`, `details.answer`)
   * or ERR_BAD_RESULT.
   */
  forward: (workerId: string, taskJson: Bytes, options?: ForwardOptions) => Promise<ForwardResult>
  /** Forwards a streamed task and yields its validated lifecycle events (spec §3.6). */
  stream: (workerId: string, task: Record<string, unknown>, options?: ForwardOptions) => AsyncIterable<LifecycleEvent>
}

const OUTCOME_BY_CODE: Partial<Record<ErrorCode, CallOutcome>> = {
  [ErrorCode.SessionNotFound]: 'no_session',
  [ErrorCode.SessionBusy]: 'busy',
  [ErrorCode.SessionClosed]: 'session_closed',
  [ErrorCode.ForwardTimeout]: 'timeout',
  [ErrorCode.Aborted]: 'aborted',
  [ErrorCode.WorkerError]: 'worker_error',
  [ErrorCode.BadResult]: 'bad_result'
}

function outcomeOf (err: unknown): CallOutcome {
  return (isToolkitError(err) ? OUTCOME_BY_CODE[err.code] : undefined) ?? 'session_closed'
}

function noSession (workerId: string): ToolkitError {
  return new ToolkitError(ErrorCode.SessionNotFound, 'no alive relay session for this worker', { details: { workerId } })
}

/** What a forwarder needs from its relay. */
export interface ForwarderContext {
  registry: SessionRegistry
  metrics: RelayMetrics
  forwardTimeoutMs: number
  /** In a fleet: calls for workers bound to another relay go to their owner. */
  remote?: RemoteCalls | undefined
  /** Failed calls are logged here at warn, at most {@link FAILURE_LOGS_PER_SECOND} per second. */
  logger?: Logger
}

/** Sustained rate (and burst) of "relayed task failed" log lines: a failing fleet must not flood the log. */
const FAILURE_LOGS_PER_SECOND = 1
const FAILURE_LOG_BURST = 10

/** Creates the relay's {@link Forwarder}. */
export function createForwarder (ctx: ForwarderContext): Forwarder {
  const { registry, metrics } = ctx
  const failureLog = createTokenBucketLimiter({ perSecond: FAILURE_LOGS_PER_SECOND, burst: FAILURE_LOG_BURST, maxKeys: 1 })
  let suppressed = 0
  function logFailure (workerId: string, outcome: CallOutcome, err: unknown): void {
    if (ctx.logger === undefined || outcome === 'aborted') return
    if (!failureLog.take('all')) {
      suppressed++
      return
    }
    ctx.logger.warn({ workerId, outcome, code: isToolkitError(err) ? err.code : undefined, reason: (err as Error).message, suppressedBefore: suppressed }, 'relayed task failed')
    suppressed = 0
  }

  async function forward (workerId: string, taskJson: Bytes, options: ForwardOptions = {}): Promise<ForwardResult> {
    const session = callTarget(registry, ctx.remote, workerId)
    if (session === undefined) {
      metrics.call('no_session')
      throw noSession(workerId)
    }
    const started = performance.now()
    try {
      const answer = interpretWorkerAnswer(await session.call(taskJson, { signal: options.signal, timeoutMs: options.timeoutMs ?? ctx.forwardTimeoutMs }))
      metrics.call('ok', (performance.now() - started) / 1000)
      return answer
    } catch (err) {
      const outcome = outcomeOf(err)
      // A call refused as busy never reached the worker, so it has no duration.
      metrics.call(outcome, outcome === 'busy' ? undefined : (performance.now() - started) / 1000)
      logFailure(workerId, outcome, err)
      throw err
    }
  }

  async function * stream (workerId: string, task: Record<string, unknown>, options: ForwardOptions = {}): AsyncGenerator<LifecycleEvent> {
    const session = callTarget(registry, ctx.remote, workerId)
    if (session === undefined) {
      metrics.call('no_session')
      throw noSession(workerId)
    }
    const ids = {
      sessionId: typeof task.session_id === 'string' && task.session_id !== '' ? task.session_id : undefined,
      taskId: typeof task.task_id === 'string' && task.task_id !== '' ? task.task_id : undefined
    }
    const started = performance.now()
    let outcome: CallOutcome = 'aborted'
    try {
      const waiter = session.openStream(Buffer.from(JSON.stringify(task), 'utf8'), ids, { signal: options.signal, timeoutMs: options.timeoutMs ?? ctx.forwardTimeoutMs })
      try {
        yield * waiter
        outcome = 'ok'
      } finally {
        await waiter.return?.()
      }
    } catch (err) {
      outcome = isToolkitError(err, ErrorCode.StreamViolation) ? 'bad_result' : outcomeOf(err)
      throw err
    } finally {
      metrics.call(outcome, outcome === 'busy' ? undefined : (performance.now() - started) / 1000)
    }
  }

  return { forward, stream }
}
