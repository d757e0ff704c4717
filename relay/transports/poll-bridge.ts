/**
 * One HTTP long-poll worker session as a byte stream (spec §4.2). The relay-accept server
 * sees an ordinary duplex connection: the bridge writes INIT and RELAY_BIND into it, reads
 * ACK, RELAY_ACK and CALL frames out of it, and turns `pull`, `result` and `unbind` requests
 * into frames. So a long-poll worker goes through the same handshake, admission, limits,
 * registry and idle sweep as a TCP worker: every pull injects a PING, which is what keeps the
 * session alive; a session not pulled within the idle timeout (90 s) is swept and can be
 * displaced.
 */
import { SOCKET_HIGH_WATER_BYTES } from '../../src/limits.ts'
import { MsgType, type Frame } from '../../src/protocol/frame.ts'
import {
  encodeClose, encodeInit, encodeLifecycleResponse, encodePing, encodeRelayBind, encodeResponse, parseCall, parseRelayAck,
  type LifecycleEvent, type RelayAck, type RelayBind
} from '../../src/protocol/messages.ts'
import { FrameDuplex } from '../../src/transport/frame-duplex.ts'

const PING_FRAME = encodePing()
const CLOSE_FRAME = encodeClose()

/** A pulled call: the exact JSON body `GET /v1/relay/pull` answers with. */
export type PulledCall = Buffer

/** A held pull: resolves with a call, or undefined when the session ended. */
type PullWaiter = (call: PulledCall | undefined) => void

/** The JSON a pull returns for a CALL: buffered `{"call_id","task"}` or stream `{"call_id","task_id","session_id","stream":true,"task"}`. */
function pullBody (frame: Frame): PulledCall {
  const call = parseCall(frame.payload)
  const head = call.taskId === undefined
    ? `{"call_id":${JSON.stringify(call.callId)},"task":`
    : `{"call_id":${JSON.stringify(call.callId)},"task_id":${JSON.stringify(call.taskId)},"session_id":${JSON.stringify(call.sessionId ?? call.callId)},"stream":true,"task":`
  return Buffer.concat([Buffer.from(head, 'utf8'), call.body, Buffer.from('}', 'utf8')])
}

/** The relay side of one long-poll session. */
export class PollBridge extends FrameDuplex {
  /** The HTTP client's address (the admission rate-limit key). */
  readonly remoteAddress: string
  readonly #queue: PulledCall[] = []
  readonly #waiters: PullWaiter[] = []
  #queuedBytes = 0
  #ack: ((ack: RelayAck | undefined) => void) | undefined
  #bind: RelayBind | undefined
  #ended = false

  constructor (remoteAddress: string) {
    super()
    this.remoteAddress = remoteAddress
  }

  /** True once the session is over (unbound, closed by the relay, or swept). */
  get ended (): boolean {
    return this.#ended || this.destroyed
  }

  /**
   * Runs the INIT/RELAY_BIND handshake for `bind`. Resolves with the relay's RELAY_ACK, or
   * undefined when the relay closed the stream without one (a refused connection or a
   * malformed bind) or `timeoutMs` passed.
   */
  async handshake (bind: RelayBind, timeoutMs: number): Promise<RelayAck | undefined> {
    this.#bind = bind
    const ack = new Promise<RelayAck | undefined>(resolve => { this.#ack = resolve })
    const timer = setTimeout(() => { this.#settleAck(undefined) }, timeoutMs)
    this.once('close', () => { this.#settleAck(undefined) })
    this.send(encodeInit())
    try {
      return await ack
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Waits up to `holdMs` for the next call. Resolves with its JSON body, with 'empty' after the
   * hold, or with 'ended' once the session is gone. Every pull refreshes the session's liveness.
   */
  async pull (holdMs: number, signal: AbortSignal): Promise<PulledCall | 'empty' | 'ended'> {
    if (this.ended) return 'ended'
    this.send(PING_FRAME)
    const next = this.#take()
    if (next !== undefined) return next
    return await new Promise(resolve => {
      const finish = (value: PulledCall | 'empty' | 'ended'): void => {
        // The end of a held pull counts as worker activity too, so the gap before the next pull is all that ages.
        this.send(PING_FRAME)
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        resolve(value)
      }
      const waiter: PullWaiter = call => { finish(call ?? 'ended') }
      const onAbort = (): void => { finish('empty') }
      const timer = setTimeout(() => { finish('empty') }, holdMs)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(waiter)
    })
  }

  /** Delivers a buffered result (`resultJson` = UTF-8 JSON of the result object). */
  result (callId: string, resultJson: Buffer): void {
    this.send(encodeResponse(callId, resultJson))
  }

  /** Delivers a lifecycle event of a streamed call. */
  event (event: LifecycleEvent): void {
    this.send(encodeLifecycleResponse(event))
  }

  /** Ends the session as a worker's CLOSE would: the relay removes it at once. */
  unbind (): void {
    if (this.ended) return
    this.push(CLOSE_FRAME)
    this.#end()
    this.push(null)
  }

  /** Backpressure: the relay's writer waits while unpulled calls hold more than the mark. */
  protected override get congested (): boolean {
    return this.#queuedBytes > SOCKET_HIGH_WATER_BYTES
  }

  protected override get finished (): boolean {
    return this.ended
  }

  override _final (callback: (error?: Error | null) => void): void {
    this.#end()
    this.push(null)
    callback()
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.#end()
    callback(err)
  }

  protected override onFrame (frame: Frame): void {
    switch (frame.type) {
      case MsgType.Ack:
        if (this.#bind !== undefined) this.send(encodeRelayBind(this.#bind))
        return
      case MsgType.RelayAck:
        this.#settleAck(parseRelayAck(frame.payload))
        return
      case MsgType.Call:
        this.#enqueue(pullBody(frame))
        return
      case MsgType.Close:
        this.#end()
        return
      default:
        // PONGs answer the liveness PINGs; nothing else reaches a worker.
    }
  }

  #settleAck (ack: RelayAck | undefined): void {
    const resolve = this.#ack
    this.#ack = undefined
    resolve?.(ack)
  }

  #enqueue (call: PulledCall): void {
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      waiter(call)
      return
    }
    this.#queue.push(call)
    this.#queuedBytes += call.length
  }

  #take (): PulledCall | undefined {
    const call = this.#queue.shift()
    if (call === undefined) return undefined
    this.#queuedBytes -= call.length
    if (!this.congested) this.releaseWrites()
    return call
  }

  #end (): void {
    if (this.#ended) return
    this.#ended = true
    this.#queue.length = 0
    this.#queuedBytes = 0
    for (const w of this.#waiters.splice(0)) w(undefined)
    this.releaseWrites()
  }
}
