/**
 * The consumer side of one streamed call (spec §3.6): lifecycle events routed by call id are
 * buffered (at most 32 unread; one more fails the stream with `relay_backpressure_exceeded`)
 * and validated in order as they are read. Each wait for the next event has the forward
 * timeout. Ending the iteration early removes the call's pending state.
 */
import { abortError } from '../src/abort.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { MAX_STREAM_EVENTS } from '../src/limits.ts'
import type { LifecycleEvent } from '../src/protocol/messages.ts'
import { LifecycleSequence, type StreamIdentity, type StreamViolationCode } from './lifecycle-sequence.ts'
import type { PendingEntry } from './pending-calls.ts'

/** Builds the ERR_STREAM_VIOLATION error for an upstream violation code. */
export function streamViolation (reason: StreamViolationCode, cause?: unknown): ToolkitError {
  return new ToolkitError(ErrorCode.StreamViolation, `relay stream failed: ${reason}`, { details: { reason }, cause })
}

/** Options for {@link StreamWaiter}. */
export interface StreamWaiterOptions {
  /** The ids every event must carry. */
  identity: StreamIdentity
  /** Deadline for each wait for the next event. */
  timeoutMs: number
  /** Unread events held before `relay_backpressure_exceeded`. @default 32 */
  maxBuffered?: number
  /** Cancels the stream. */
  signal?: AbortSignal
  /** Called once when the stream is finished, failed or abandoned. */
  onDone: () => void
}

/** Buffers and validates one stream's lifecycle events; iterate it with `for await`. */
export class StreamWaiter implements PendingEntry, AsyncIterableIterator<LifecycleEvent> {
  readonly kind = 'stream'
  readonly #queue: LifecycleEvent[] = []
  readonly #sequence: LifecycleSequence
  readonly #options: StreamWaiterOptions
  readonly #maxBuffered: number
  #error: ToolkitError | undefined
  #done = false
  #wake: (() => void) | undefined
  /** True while a woken reader is about to take the head of the queue (that event is not "unread"). */
  #claimed = false

  constructor (options: StreamWaiterOptions) {
    this.#options = options
    this.#maxBuffered = options.maxBuffered ?? MAX_STREAM_EVENTS
    this.#sequence = new LifecycleSequence(options.identity)
  }

  /** Accepts one routed event (from the session's read loop). */
  push (event: LifecycleEvent): void {
    if (this.#done || this.#error !== undefined) return
    if (this.#queue.length - (this.#claimed ? 1 : 0) >= this.#maxBuffered) {
      this.#queue.length = 0
      this.fail(streamViolation('relay_backpressure_exceeded'))
      return
    }
    this.#queue.push(event)
    if (this.#wake !== undefined) this.#claimed = true
    this.#notify()
  }

  /** Fails the stream; events already buffered are still delivered first, except on overflow. */
  fail (err: ToolkitError): void {
    if (this.#done || this.#error !== undefined) return
    this.#error = err
    this.#notify()
  }

  [Symbol.asyncIterator] (): this {
    return this
  }

  async next (): Promise<IteratorResult<LifecycleEvent>> {
    for (;;) {
      if (this.#done) return { done: true, value: undefined }
      if (this.#options.signal?.aborted === true) throw this.#finish(abortError(this.#options.signal, 'relay stream'))
      const event = this.#queue.shift()
      this.#claimed = false
      if (event !== undefined) {
        const violation = this.#sequence.check(event)
        if (violation !== undefined) throw this.#finish(streamViolation(violation))
        return { done: false, value: event }
      }
      if (this.#sequence.terminated) {
        this.#finish()
        return { done: true, value: undefined }
      }
      if (this.#error !== undefined) throw this.#finish(this.#error)
      await this.#waitForEvent()
    }
  }

  async return (): Promise<IteratorResult<LifecycleEvent>> {
    this.#finish()
    return await Promise.resolve({ done: true, value: undefined })
  }

  #notify (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async #waitForEvent (): Promise<void> {
    const { timeoutMs, signal } = this.#options
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve
        timer = setTimeout(() => {
          reject(new ToolkitError(ErrorCode.ForwardTimeout, `no stream event within ${timeoutMs} ms`, { details: { timeoutMs } }))
        }, timeoutMs)
        onAbort = () => { reject(abortError(signal, 'relay stream')) }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    } catch (err) {
      throw this.#finish(err as ToolkitError)
    } finally {
      this.#wake = undefined
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Marks the stream finished (once) and returns `err` for throwing. */
  #finish<E extends ToolkitError | undefined> (err?: E): E {
    if (!this.#done) {
      this.#done = true
      this.#queue.length = 0
      this.#options.onDone()
    }
    return err as E
  }
}
