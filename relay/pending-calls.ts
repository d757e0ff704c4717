/**
 * Calls in flight on one relay session, keyed by call id: buffered calls (one RESPONSE) and
 * streams (lifecycle events). Bounded by the per-session in-flight cap; every entry has a
 * deadline, honours its AbortSignal, and fails at once when the session ends.
 */
import { abortError } from '../src/abort.ts'
import type { ByteChunks } from '../src/byte-chunks.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { DeadlineQueue, type Deadline } from '../src/deadline-queue.ts'
import { InFlightMap } from '../src/in-flight-map.ts'

/** Something waiting on a call id. */
export interface PendingEntry {
  /** 'buffered' waits for one RESPONSE; 'stream' for lifecycle events. */
  readonly kind: 'buffered' | 'stream'
  /** Fails the entry with `err` (no-op once settled). */
  fail: (err: ToolkitError) => void
}

/** A buffered call: resolves with the RESPONSE body bytes (key 5), or rejects. */
export class BufferedCall implements PendingEntry {
  readonly kind = 'buffered'
  /** Settles exactly once. */
  readonly promise: Promise<Buffer | ByteChunks>
  #resolve!: (body: Buffer | ByteChunks) => void
  #reject!: (err: ToolkitError) => void
  readonly #deadlines: DeadlineQueue
  readonly #deadline: Deadline
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void
  readonly #onSettle: () => void
  #settled = false

  /** Fails with ERR_FORWARD_TIMEOUT once `timeoutMs` have passed (a deadline in `deadlines`), or with the signal's abort error. */
  constructor (deadlines: DeadlineQueue, timeoutMs: number, signal: AbortSignal | undefined, onSettle: () => void) {
    this.promise = new Promise<Buffer | ByteChunks>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#onSettle = onSettle
    this.#signal = signal
    this.#deadlines = deadlines
    this.#deadline = deadlines.add(timeoutMs, () => {
      this.fail(new ToolkitError(ErrorCode.ForwardTimeout, `worker did not answer within ${timeoutMs} ms`, { details: { timeoutMs } }))
    })
    this.#onAbort = () => { this.fail(abortError(signal, 'relay call')) }
    if (signal?.aborted === true) this.#onAbort()
    else signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Resolves with the worker's answer. */
  resolve (body: Buffer | ByteChunks): void {
    if (!this.#settle()) return
    this.#resolve(body)
  }

  fail (err: ToolkitError): void {
    if (!this.#settle()) return
    this.#reject(err)
  }

  #settle (): boolean {
    if (this.#settled) return false
    this.#settled = true
    this.#deadlines.remove(this.#deadline)
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#onSettle()
    return true
  }
}

/** The in-flight calls of one session. */
export class PendingCalls {
  /** The deadlines of this session's buffered calls, behind one timer. */
  readonly deadlines = new DeadlineQueue()
  /** Not a plain Map: see in-flight-map.ts (a Map here promoted nearly every call's objects). */
  readonly #map = new InFlightMap<string, PendingEntry>()
  readonly #max: number

  constructor (maxInFlight: number) {
    this.#max = maxInFlight
  }

  /** Calls in flight. */
  get size (): number {
    return this.#map.size
  }

  /** True when no further call may start. */
  get full (): boolean {
    return this.#map.size >= this.#max
  }

  /** Registers `entry` under `callId`. */
  add (callId: string, entry: PendingEntry): void {
    this.#map.set(callId, entry)
  }

  /** The entry waiting on `callId`, if any. */
  get (callId: string): PendingEntry | undefined {
    return this.#map.get(callId)
  }

  /** Removes `callId` if it still maps to `entry`. */
  delete (callId: string, entry: PendingEntry): void {
    if (this.#map.get(callId) === entry) this.#map.delete(callId)
  }

  /** Fails every entry at once (the session ended). */
  failAll (err: ToolkitError): void {
    for (const e of this.#map.takeAll()) e.fail(err)
  }
}
