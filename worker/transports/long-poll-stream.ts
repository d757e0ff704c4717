/**
 * The worker's long-poll transport as a byte stream, so the ordinary worker session (handshake,
 * task runner, keepalive) runs over it unchanged: INIT is answered locally with ACK,
 * RELAY_BIND becomes `POST /v1/relay/bind` (its refusals become RELAY_ACK reasons), pulled
 * calls become CALL frames, RESPONSE frames become `POST /v1/relay/result`, CLOSE becomes
 * `POST /v1/relay/unbind`. Every answered pull (200 or 204) also yields a PONG, so the
 * worker's idle deadline sees the relay alive exactly while pulls succeed.
 */
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { MsgType, type Frame } from '../../src/protocol/frame.ts'
import {
  encodeAck, encodeCall, encodePong, encodeRelayAckError, encodeRelayAckOk, encodeStreamCall, parseRelayBind, parseResponse,
  type LifecycleEvent, type RelayBind
} from '../../src/protocol/messages.ts'
import { FrameDuplex } from '../../src/transport/frame-duplex.ts'
import { PollError, type PollClient, type PulledCall } from '../browser/poll-client.ts'

const PONG_FRAME = encodePong()
/** Deadline of a bind, result or unbind request. */
const REQUEST_TIMEOUT_MS = 30_000
/** A pull may take the relay's announced hold plus this much before it counts as lost. */
const PULL_MARGIN_MS = 15_000
/** Unbind is best effort (a stopping worker should not wait long for a relay that is gone). */
const UNBIND_TIMEOUT_MS = 5_000

/** RELAY_ACK reasons for the long-poll bind refusals (spec §3.4, read backwards). */
function refusalReason (err: PollError): string | undefined {
  if (err.code === 'IICP-E040') return err.message
  if (err.status === 409 && err.code === 'IICP-E038') return 'worker_id already bound to an alive session'
  if (err.status === 429) return 'relay_bind_rate_limited'
  if (err.status === 503 && err.code === 'IICP-E039') return 'relay at session capacity'
  return undefined
}

/** A lifecycle event in the upstream JSON shape (`rs:NativeResponseFrame`). */
function eventJson (e: LifecycleEvent): object {
  return {
    session_id: e.sessionId,
    call_id: e.callId,
    status: e.status,
    is_final: e.isFinal,
    lifecycle: { task_id: e.lifecycle.taskId, sequence: e.lifecycle.sequence, event: e.lifecycle.event, is_final: e.lifecycle.isFinal },
    ...(e.result === undefined ? {} : { result: e.result }),
    ...(e.error === undefined ? {} : { error: e.error }),
    ...(e.tokensUsed === undefined ? {} : { tokens_used: e.tokensUsed })
  }
}

/** The JSON text of a RESPONSE body as a result object (a non-object is reported as an error). */
function resultText (body: Buffer): string {
  const text = body.toString('utf8')
  return /^\s*\{/.test(text) ? text : JSON.stringify({ error: 'worker result is not a JSON object' })
}

/** Options of {@link LongPollStream}. */
export interface LongPollStreamOptions {
  /** The relay host (reported as the stream's remote address). */
  host: string
  /** The relay's HTTP(S) port, reported to the worker as RELAY_ACK key 4. */
  httpPort: number
  /** Pulls held at once (more overlap fetching calls with answering them). */
  pullers: number
  /** Result POSTs in flight before the worker's writes wait. */
  maxResultsInFlight: number
}

/** One long-poll session seen as the relay-accept byte stream. */
export class LongPollStream extends FrameDuplex {
  readonly remoteAddress: string
  readonly #client: PollClient
  readonly #o: LongPollStreamOptions
  readonly #stop = new AbortController()
  #resultsInFlight = 0
  #bound = false
  #ended = false
  /** The relay's pull hold (from the bind answer). */
  #holdMs = 25_000

  constructor (client: PollClient, o: LongPollStreamOptions) {
    super()
    this.#client = client
    this.#o = o
    this.remoteAddress = o.host
  }

  /** The worker's writes wait while too many result POSTs are in flight. */
  protected override get congested (): boolean {
    return this.#resultsInFlight >= this.#o.maxResultsInFlight
  }

  protected override get finished (): boolean {
    return this.#ended
  }

  override _final (callback: (error?: Error | null) => void): void {
    void this.#unbind().then(() => { callback() })
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.#ended = true
    this.#stop.abort()
    this.releaseWrites()
    callback(err)
  }

  /** The relay side is over: EOF to the worker. */
  #eof (): void {
    if (this.#ended) return
    this.#ended = true
    this.#stop.abort()
    this.push(null)
  }

  protected override onFrame (frame: Frame): void {
    switch (frame.type) {
      case MsgType.Init:
        this.send(encodeAck())
        return
      case MsgType.RelayBind:
        void this.#bind(parseRelayBind(frame.payload))
        return
      case MsgType.Response:
        this.#onResponse(frame.payload)
        return
      case MsgType.Close:
        void this.#unbind().then(() => { this.#eof() })
        return
      default:
        // PINGs need no answer: every answered pull already yields a PONG.
    }
  }

  async #bind (bind: RelayBind): Promise<void> {
    try {
      const binding = await this.#client.bind({ workerId: bind.workerId, intent: bind.intent, models: bind.models, ...(bind.ticket === undefined ? {} : { ticket: bind.ticket }) }, this.#deadline(REQUEST_TIMEOUT_MS))
      this.#holdMs = binding.pollTimeoutS * 1000
    } catch (err) {
      const reason = err instanceof PollError ? refusalReason(err) : undefined
      if (reason === undefined) {
        this.destroy(err instanceof ToolkitError ? err : new ToolkitError(ErrorCode.ConnectionClosed, `long-poll bind failed: ${errorMessage(err)}`, { cause: err }))
        return
      }
      this.send(encodeRelayAckError(bind.workerId, reason))
      this.#eof()
      return
    }
    this.#bound = true
    this.send(encodeRelayAckOk(bind.workerId, this.#o.httpPort))
    for (let i = 0; i < this.#o.pullers; i++) void this.#pullLoop()
  }

  async #pullLoop (): Promise<void> {
    while (!this.#ended) {
      let call: PulledCall | undefined
      try {
        call = await this.#client.pull(this.#deadline(this.#holdMs + PULL_MARGIN_MS))
      } catch (err) {
        if (this.#ended) return
        if (err instanceof PollError && err.sessionEnded) this.#eof()
        else this.destroy(err instanceof ToolkitError ? err : new ToolkitError(ErrorCode.ConnectionClosed, `long-poll pull failed: ${errorMessage(err)}`, { cause: err }))
        return
      }
      this.send(PONG_FRAME)
      if (call === undefined) continue
      const body = Buffer.from(JSON.stringify(call.task), 'utf8')
      this.send(call.stream === undefined ? encodeCall(call.callId, body) : encodeStreamCall(call.callId, call.stream.sessionId, call.stream.taskId, body))
    }
  }

  #onResponse (payload: Buffer): void {
    const msg = parseResponse(payload)
    const post = msg.kind === 'buffered'
      ? this.#client.result(msg.callId, resultText(msg.body), this.#deadline(REQUEST_TIMEOUT_MS))
      : this.#client.event(msg.event.callId, eventJson(msg.event), this.#deadline(REQUEST_TIMEOUT_MS))
    this.#resultsInFlight++
    post.catch((err: unknown) => {
      if (this.#ended) return
      if (err instanceof PollError && err.sessionEnded) this.#eof()
      else if (!(err instanceof PollError)) this.destroy(err instanceof ToolkitError ? err : new ToolkitError(ErrorCode.ConnectionClosed, `long-poll result failed: ${errorMessage(err)}`, { cause: err }))
    }).finally(() => {
      this.#resultsInFlight--
      this.releaseWrites()
    })
  }

  /** The session's stop signal, plus a deadline for one request. */
  #deadline (ms: number): AbortSignal {
    return AbortSignal.any([this.#stop.signal, AbortSignal.timeout(ms)])
  }

  async #unbind (): Promise<void> {
    if (!this.#bound) return
    this.#bound = false
    // Best effort: a relay that is gone has dropped the session anyway.
    await this.#client.unbind(AbortSignal.timeout(UNBIND_TIMEOUT_MS)).catch(() => {})
  }
}
