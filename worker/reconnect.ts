/**
 * The worker's reconnect loop, on p-retry. A failed attempt (connect error or timeout, refused
 * bind, handshake timeout) is retried after `min · 2^n · random[1, 2)`, capped at `max`
 * (default cap 20 s; upstream: 2, 4, 8, 16, 32, 60, 60 s, spec §3.2 step 8; the random factor keeps workers from
 * returning in lockstep after a relay restart). A session that reached `bound` and then ended
 * resets the back-off: the next attempt follows after `min · random[1, 2)`.
 */
import pRetry from 'p-retry'
import { sleep } from '../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../src/errors.ts'
import type { BackoffInfo } from './options.ts'

/** Options for {@link runReconnectLoop}. */
export interface ReconnectLoopOptions {
  /** First delay. */
  minDelayMs: number
  /** Largest delay. */
  maxDelayMs: number
  /** Ends the loop (the running attempt gets the same signal). */
  signal: AbortSignal
  /** Called before every wait. */
  onBackoff: (info: BackoffInfo) => void
}

/** The delay after a bound session ended: `min · random[1, 2)`, at most `max`. */
function resetDelay (minDelayMs: number, maxDelayMs: number): number {
  return Math.min(Math.round(minDelayMs * (1 + Math.random())), maxDelayMs)
}

function asToolkitError (err: unknown): ToolkitError {
  return isToolkitError(err) ? err : new ToolkitError(ErrorCode.ConnectionClosed, `relay session failed: ${errorMessage(err)}`, { cause: err })
}

/**
 * Calls `session` until `signal` fires. `session` resolves when a bound session has ended and
 * rejects when an attempt failed before binding. Resolves once `signal` has fired and the
 * running attempt has settled.
 */
export async function runReconnectLoop (session: (signal: AbortSignal) => Promise<void>, o: ReconnectLoopOptions): Promise<void> {
  const { signal } = o
  while (!signal.aborted) {
    try {
      await pRetry(async () => {
        try {
          await session(signal)
        } catch (err) {
          // Only ToolkitErrors reach p-retry, so no error class (TypeError) ends the loop.
          throw asToolkitError(err)
        }
      }, {
        retries: Infinity,
        factor: 2,
        minTimeout: o.minDelayMs,
        maxTimeout: o.maxDelayMs,
        randomize: true,
        signal,
        onFailedAttempt: ctx => { o.onBackoff({ attempt: ctx.attemptNumber, delayMs: ctx.retryDelay, error: asToolkitError(ctx.error) }) }
      })
    } catch (err) {
      if (signal.aborted) return
      throw err
    }
    if (signal.aborted) return
    const delayMs = resetDelay(o.minDelayMs, o.maxDelayMs)
    o.onBackoff({ attempt: 0, delayMs })
    try {
      await sleep(delayMs, signal)
    } catch {
      return
    }
  }
}
