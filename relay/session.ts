/**
 * One bound worker session on the relay-accept port (spec §3.1 step 5): answers PINGs,
 * routes RESPONSEs to the calls waiting on them (buffered by key 15, lifecycle by key 3),
 * ends on CLOSE, EOF, bad magic or idleness, and fails every pending call the moment it ends.
 */
import { throwIfAborted } from '../src/abort.ts'
import { ByteChunks } from '../src/byte-chunks.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../src/errors.ts'
import type { Logger } from '../src/log.ts'
import { encodeBodyFrameChunks, readBodyAndCallIdChunks } from '../src/protocol/body-frame.ts'
import { newCallId } from '../src/protocol/call-id.ts'
import { MsgType, type Frame } from '../src/protocol/frame.ts'
import {
  encodeCall, encodeClose, encodePong, encodeStreamCall, parsePingEcho, parseResponse, type RelayBind, type ResponseMessage
} from '../src/protocol/messages.ts'
import type { FrameConnection } from '../src/transport/frame-connection.ts'
import { FrameWriter } from './frame-writer.ts'
import { BufferedCall, PendingCalls } from './pending-calls.ts'
import { StreamWaiter, streamViolation } from './stream-waiter.ts'

const EMPTY = new Uint8Array(0)

/**
 * Why a call's queued frame write is withdrawn: the call settled first (answered, failed or
 * timed out). One shared instance: nobody sees it, and an `abort()` without a reason would
 * build a DOMException (with its stack) for every such call.
 */
const CALL_SETTLED = new ToolkitError(ErrorCode.Aborted, 'call settled before its frame was written')

/** What a session needs from its relay. */
export interface SessionContext {
  /** A session with no frame from the worker for this long is no longer alive. */
  idleTimeoutMs: number
  /** Calls in flight allowed at once. */
  maxCallsInFlight: number
  /** Session logger (already a child with the session's fields). */
  logger: Logger
  /** Counts bytes written to the worker. */
  onBytesOut: (n: number) => void
  /** Called once when the session has ended (after its pending calls failed). */
  onEnd: (session: BoundWorkerSession) => void
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal | undefined
  /** Deadline for the answer (for streams: for each event). */
  timeoutMs: number
}

/** The ids of a streamed call. */
export interface StreamIds {
  /** Stream CALL key 2; defaults to the call id. */
  sessionId?: string | undefined
  /** Stream CALL key 24; defaults to the call id. */
  taskId?: string | undefined
}

/** The relay's side of one bound worker: its frame connection, calls in flight and liveness. */
export class BoundWorkerSession {
  /** The worker id from RELAY_BIND. */
  readonly workerId: string
  /** The intent from RELAY_BIND. */
  readonly intent: string
  /** The models from RELAY_BIND (reported by relay-for health). */
  readonly models: readonly string[]
  /** Resolves once the session has ended and its pending calls have failed. */
  readonly ended: Promise<void>
  readonly #conn: FrameConnection
  readonly #writer: FrameWriter
  readonly #pending: PendingCalls
  readonly #ctx: SessionContext
  #endedResolve!: () => void
  #isEnded = false

  constructor (conn: FrameConnection, bind: RelayBind, ctx: SessionContext) {
    this.workerId = bind.workerId
    this.intent = bind.intent
    this.models = bind.models
    this.#conn = conn
    this.#ctx = ctx
    this.#writer = new FrameWriter(conn, ctx.onBytesOut)
    this.#pending = new PendingCalls(ctx.maxCallsInFlight)
    this.ended = new Promise<void>(resolve => { this.#endedResolve = resolve })
  }

  /** Socket open and a frame seen within the idle timeout. */
  get alive (): boolean {
    return !this.#conn.closed && performance.now() - this.#conn.lastReceivedAt < this.#ctx.idleTimeoutMs
  }

  /** Milliseconds since the worker last sent anything, at `performance.now()` time `now`. */
  idleFor (now: number): number {
    return now - this.#conn.lastReceivedAt
  }

  /** Calls in flight. */
  get callsInFlight (): number {
    return this.#pending.size
  }

  /** Sends the first frame after the handshake (RELAY_ACK ok). */
  sendAck (frame: Buffer): void {
    this.#conn.send(frame)
    this.#ctx.onBytesOut(frame.length)
  }

  /** Handles one frame from the worker (the bound loop). */
  handleFrame (frame: Frame): void {
    switch (frame.type) {
      case MsgType.Ping:
        this.#onPing(frame.payload)
        return
      case MsgType.Response:
        this.#onResponse(frame)
        return
      case MsgType.Close:
        this.#ctx.logger.debug('worker sent CLOSE')
        this.#conn.end()
        // Fail pending calls now rather than when the worker finally closes its side.
        this.#failPending(new ToolkitError(ErrorCode.SessionClosed, 'worker sent CLOSE'))
        return
      default:
        // Unknown and unexpected types are ignored, as upstream relays do.
    }
  }

  /**
   * Pushes one buffered CALL with `taskJson` (UTF-8 JSON bytes, one buffer or chunks) and
   * resolves with the worker's RESPONSE body (a large one as the chunks it arrived in). Rejects
   * with ERR_SESSION_CLOSED, ERR_SESSION_BUSY, ERR_FORWARD_TIMEOUT or ERR_ABORTED.
   */
  async call (taskJson: Uint8Array | ByteChunks, options: CallOptions): Promise<Buffer | ByteChunks> {
    this.#admitCall(options.signal)
    const callId = newCallId()
    let writeAbort: AbortController | undefined
    const call: BufferedCall = new BufferedCall(this.#pending.deadlines, options.timeoutMs, options.signal, () => {
      this.#pending.delete(callId, call)
      writeAbort?.abort(CALL_SETTLED)
    })
    this.#pending.add(callId, call)
    const frame = taskJson instanceof ByteChunks ? encodeBodyFrameChunks(MsgType.Call, callId, taskJson) : encodeCall(callId, taskJson)
    if (!this.#writer.trySend(frame)) {
      writeAbort = new AbortController()
      this.#writer.write(frame, writeAbort.signal).catch((err: unknown) => { call.fail(this.#writeError(err)) })
    }
    return await call.promise
  }

  /**
   * Pushes one stream CALL (`{2:session_id, 15:call_id, 24:task_id, 5:json}`) and returns the
   * waiter that yields its lifecycle events. Throws like {@link BoundWorkerSession.call}.
   */
  openStream (taskJson: Uint8Array, ids: StreamIds, options: CallOptions): StreamWaiter {
    this.#admitCall(options.signal)
    const callId = newCallId()
    const sessionId = ids.sessionId ?? callId
    const taskId = ids.taskId ?? callId
    const writeAbort = new AbortController()
    const waiter: StreamWaiter = new StreamWaiter({
      identity: { sessionId, callId, taskId },
      timeoutMs: options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onDone: () => {
        this.#pending.delete(callId, waiter)
        writeAbort.abort(CALL_SETTLED)
      }
    })
    this.#pending.add(callId, waiter)
    this.#writer.write(encodeStreamCall(callId, sessionId, taskId, taskJson), writeAbort.signal)
      .catch((err: unknown) => { waiter.fail(this.#writeError(err)) })
    return waiter
  }

  /** Relay shutdown: sends CLOSE, half-closes, and fails every pending call at once. */
  shutdown (): void {
    this.#conn.end(encodeClose())
    this.#failPending(new ToolkitError(ErrorCode.SessionClosed, 'relay is shutting down'))
  }

  /** Closes the session now (idle or replaced); `reason` is reported to pending calls. */
  destroy (reason: ToolkitError): void {
    this.#failPending(reason)
    this.#conn.destroy(reason)
  }

  /** Called exactly once when the socket is gone (the FrameConnection's onClose). */
  handleClose (err: ToolkitError | undefined): void {
    if (this.#isEnded) return
    this.#isEnded = true
    this.#ctx.logger.info({ err }, 'relay session ended')
    this.#failPending(new ToolkitError(ErrorCode.SessionClosed, 'worker session closed', { cause: err }))
    this.#ctx.onEnd(this)
    this.#endedResolve()
  }

  #admitCall (signal: AbortSignal | undefined): void {
    throwIfAborted(signal, 'relay call')
    if (!this.alive) throw new ToolkitError(ErrorCode.SessionClosed, 'worker session is not alive')
    if (this.#pending.full) {
      throw new ToolkitError(ErrorCode.SessionBusy, `worker already has ${this.#ctx.maxCallsInFlight} calls in flight`, { details: { limit: this.#ctx.maxCallsInFlight } })
    }
  }

  #failPending (err: ToolkitError): void {
    this.#pending.failAll(err)
    this.#writer.failAll(err)
  }

  #writeError (err: unknown): ToolkitError {
    if (isToolkitError(err, ErrorCode.ConnectionClosed)) return new ToolkitError(ErrorCode.SessionClosed, 'worker session closed', { cause: err })
    return isToolkitError(err) ? err : new ToolkitError(ErrorCode.SessionClosed, 'write to worker failed', { cause: err })
  }

  #onPing (payload: Buffer): void {
    let echo: Uint8Array = EMPTY
    try {
      echo = parsePingEcho(payload)
    } catch {
      // A PING whose payload is not a CBOR map still gets a PONG (with an empty echo).
    }
    // While the socket is congested the worker is not reading; skipping the PONG keeps memory bounded.
    this.#writer.trySend(encodePong(echo))
  }

  #onResponse (frame: Frame): void {
    // A large answer in the hot shape stays in its chunks on its way to the HTTP caller.
    const fast = frame.chunks === undefined ? undefined : readBodyAndCallIdChunks(frame.chunks)
    if (fast !== undefined && fast.callId !== '') {
      this.#resolveBuffered(fast.callId, fast.body)
      return
    }
    let msg: ResponseMessage
    try {
      msg = parseResponse(frame.payload)
    } catch (err) {
      // The parser reports the call id it found (payloads are decoded once, never again here).
      const found = isToolkitError(err) ? err.details?.callId : undefined
      const callId = typeof found === 'string' ? found : undefined
      const entry = callId === undefined ? undefined : this.#pending.get(callId)
      this.#ctx.logger.debug({ err }, 'unparseable RESPONSE')
      entry?.fail(new ToolkitError(ErrorCode.BadResult, 'worker sent an unparseable RESPONSE', { cause: err }))
      return
    }
    if (msg.kind === 'buffered') {
      this.#resolveBuffered(msg.callId, msg.body)
      return
    }
    const entry = this.#pending.get(msg.event.callId)
    if (entry instanceof StreamWaiter) entry.push(msg.event)
    else entry?.fail(new ToolkitError(ErrorCode.BadResult, 'worker answered a buffered call with a lifecycle event'))
  }

  #resolveBuffered (callId: string, body: Buffer | ByteChunks): void {
    const entry = this.#pending.get(callId)
    if (entry instanceof BufferedCall) entry.resolve(body)
    else entry?.fail(streamViolation('missing_terminal_response'))
  }
}
