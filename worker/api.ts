/**
 * The worker's public shape: the {@link Worker} interface and its events. The implementation
 * is worker/worker.ts (`createWorker`).
 */
import type { EventEmitter } from 'node:events'
import type { ToolkitError } from '../src/errors.ts'
import type { BackoffInfo, BindInfo, DisconnectInfo, WorkerState } from './options.ts'

/** Events of a {@link Worker}. */
export interface WorkerEvents {
  /** The state changed. */
  state: [state: WorkerState]
  /** A bind succeeded. */
  bind: [info: BindInfo]
  /** A bound session ended (once per session). */
  disconnect: [info: DisconnectInfo]
  /** The directory accepted the re-registration made after a bind (only with `register`). */
  registered: [info: BindInfo]
  /** An attempt failed or a session ended; the next attempt follows after `delayMs`. */
  backoff: [info: BackoffInfo]
  /**
   * A non-fatal failure (re-registration, a callback that threw). Emitted only while an
   * `error` listener is attached, so an unobserved failure never throws.
   */
  error: [err: ToolkitError]
}

/** A relay worker. Create it with `createWorker` (worker/worker.ts). */
export interface Worker extends EventEmitter<WorkerEvents> {
  /** The current state. */
  readonly state: WorkerState
  /** The current bind, while bound. */
  readonly binding: BindInfo | undefined
  /**
   * Starts the connect/bind/reconnect loop and returns at once; idempotent while running.
   * Use {@link Worker.whenBound} or the `bind` event to learn when it is bound.
   * Rejects with ERR_ABORTED after `stop()`.
   */
  start: () => Promise<void>
  /**
   * Resolves with the current bind, or the next one. Rejects with ERR_ABORTED when the worker
   * stops or `signal` fires first.
   */
  whenBound: (signal?: AbortSignal) => Promise<BindInfo>
  /**
   * Stops: no new attempts, new CALLs refused, in-flight tasks get `stopGraceMs` to answer, the
   * rest are aborted through their signal, CLOSE is sent, and every socket and timer is freed.
   * Idempotent; every call returns the same promise.
   */
  stop: () => Promise<void>
  /** Same as `stop()`, for `await using`. */
  [Symbol.asyncDispose]: () => Promise<void>
}
