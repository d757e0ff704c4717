/**
 * Validates the service-lifecycle events of one streamed call in order (spec §3.6, upstream
 * `NativeResponseSequence`): ids must not drift, sequences count up from 0, flags agree,
 * status and event pair up, and nothing follows the terminal event.
 */
import type { LifecycleEvent } from '../src/protocol/messages.ts'

/** The upstream violation codes (spec §3.6) plus the relay's buffer overflow code. */
export type StreamViolationCode =
  | 'response_after_terminal' | 'session_id_drift' | 'call_id_drift' | 'task_id_drift' | 'sequence_drift'
  | 'finality_disagreement' | 'status_event_disagreement' | 'terminal_flag_mismatch' | 'missing_terminal_response'
  | 'relay_backpressure_exceeded'

const EVENTS_FOR_STATUS: Record<string, readonly string[]> = {
  partial: ['partial'],
  success: ['completed'],
  error: ['failed', 'cancelled'],
  timeout: ['timed_out', 'expired']
}

/** The expected identity of a stream's events. */
export interface StreamIdentity {
  sessionId: string
  callId: string
  taskId: string
}

/** Checks one stream's events; call {@link LifecycleSequence.check} for each event in arrival order. */
export class LifecycleSequence {
  readonly #id: StreamIdentity
  #next = 0
  #terminated = false

  constructor (identity: StreamIdentity) {
    this.#id = identity
  }

  /** True once the terminal event has passed. */
  get terminated (): boolean {
    return this.#terminated
  }

  /** Returns the violation code for `e`, or undefined (and advances) when it is valid. */
  check (e: LifecycleEvent): StreamViolationCode | undefined {
    if (this.#terminated) return 'response_after_terminal'
    if (e.sessionId !== this.#id.sessionId) return 'session_id_drift'
    if (e.callId !== this.#id.callId) return 'call_id_drift'
    if (e.lifecycle.taskId !== this.#id.taskId) return 'task_id_drift'
    if (e.lifecycle.sequence !== this.#next) return 'sequence_drift'
    if (e.isFinal !== e.lifecycle.isFinal) return 'finality_disagreement'
    const events = EVENTS_FOR_STATUS[e.status]
    if (events === undefined || !events.includes(e.lifecycle.event)) return 'status_event_disagreement'
    if ((e.status === 'partial') === e.isFinal) return 'terminal_flag_mismatch'
    this.#next += 1
    if (e.isFinal) this.#terminated = true
    return undefined
  }
}
