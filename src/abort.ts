/**
 * Cancellation helpers: every I/O in the toolkit takes an AbortSignal and a deadline.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises'
import { ErrorCode, ToolkitError } from './errors.ts'

/** Builds the toolkit's `ERR_ABORTED` error for a signal, keeping its reason as `cause`. */
export function abortError (signal: AbortSignal | undefined, what = 'operation'): ToolkitError {
  const reason: unknown = signal?.reason
  if (reason instanceof ToolkitError) return reason
  return new ToolkitError(ErrorCode.Aborted, `${what} aborted`, { cause: reason })
}

/** Throws `ERR_ABORTED` (or the signal's own ToolkitError reason) if the signal has fired. */
export function throwIfAborted (signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted === true) throw abortError(signal, what)
}

/**
 * Sleeps for `ms`, rejecting with `ERR_ABORTED` as soon as `signal` fires.
 * The timer is unref'd only when `unref` is set.
 */
export async function sleep (ms: number, signal?: AbortSignal, unref = false): Promise<void> {
  try {
    await sleepTimer(ms, undefined, { signal, ref: !unref })
  } catch (err) {
    if (signal?.aborted === true) throw abortError(signal, 'sleep')
    throw err
  }
}

/**
 * A signal that fires when `parent` fires or after `ms` milliseconds, whichever comes first.
 * On the deadline its reason is a ToolkitError with `code` (default `ERR_ABORTED`).
 * Call `clear()` when the operation ends, so the timer does not outlive it.
 */
export function deadline (ms: number, parent?: AbortSignal, code: ToolkitError['code'] = ErrorCode.Aborted, message = `deadline of ${ms} ms passed`): { signal: AbortSignal, clear: () => void } {
  const ctrl = new AbortController()
  const timer = setTimeout(() => { ctrl.abort(new ToolkitError(code, message, { details: { timeoutMs: ms } })) }, ms)
  timer.unref()
  const onAbort = (): void => { ctrl.abort(parent?.reason) }
  if (parent !== undefined) {
    if (parent.aborted) onAbort()
    else parent.addEventListener('abort', onAbort, { once: true })
  }
  return {
    signal: ctrl.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    }
  }
}

/**
 * Resolves or rejects with `promise`, or rejects with the signal's abort error,
 * whichever comes first. The listener is always removed.
 */
export async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined, what?: string): Promise<T> {
  if (signal === undefined) return await promise
  throwIfAborted(signal, what)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(abortError(signal, what)) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
