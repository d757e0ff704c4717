/**
 * The consumer's side of one direct (or TURN) channel to a worker: offer through the relay,
 * connect within a deadline, then CALL/RESPONSE frames with our own call ids. A keepalive PING
 * goes out every second; when nothing arrives for {@link PATH_DEAD_MS} the channel is declared
 * down and every unanswered call fails with ERR_DIRECT_PATH (`details.callId`), so the client can
 * re-send it through the relay as a ledger retry.
 */
import { randomBytes } from 'node:crypto'
import { deadline } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { CONNECT_INTENT, encodeConnectCandidates, encodeConnectOffer, parseConnectAnswer } from '../../src/protocol/connect-intent.ts'
import { MsgType, type Frame } from '../../src/protocol/frame.ts'
import { encodeCall, encodeClose, encodePing, parsePingEcho, parseResponse } from '../../src/protocol/messages.ts'
import { FramePipe } from '../../src/transport/ice/frame-pipe.ts'
import type { CandidatePair, IceBackend, IcePeer, IceServer } from '../../src/transport/ice/types.ts'

/** Keepalive interval on an open channel. */
export const PATH_PING_MS = 1_000
/** No frame for this long: the path is abandoned (the bound is 5 s). */
export const PATH_DEAD_MS = 3_500
/** Gathering deadline of the offering side. */
export const OFFER_GATHER_MS = 1_500
/** Deadline from the offer to an open channel. */
export const CONNECT_DEADLINE_MS = 10_000
/** Most calls in flight on one channel. */
export const MAX_CALLS_IN_FLIGHT = 1024

/** `direct` (no TURN on either side of the selected pair) or `turn`. */
export type DirectPathKind = 'direct' | 'turn'

/** Sends a connect task through the relay and returns the relay's parsed JSON answer (throws when it is not 200). */
export type SignalTask = (task: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>

/** Options for {@link openDirectChannel}. */
export interface DirectChannelOptions {
  backend: IceBackend
  iceServers: readonly IceServer[]
  signalTask: SignalTask
  /** Use TURN candidates only (tests). */
  relayOnly?: boolean
  bindAddress?: string
  connectDeadlineMs?: number
  signal: AbortSignal
  /** Called once when an open channel goes down (not after `close()`). */
  onDown: (reason: string) => void
}

/** An open channel. */
export interface DirectChannel {
  readonly peerId: string
  readonly kind: DirectPathKind
  readonly pair: CandidatePair | undefined
  /** Last keepalive round trip. */
  readonly rttMs: number | undefined
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly inFlight: number
  /**
   * Sends one task; resolves with the worker's raw result JSON. Rejects with ERR_DIRECT_PATH when
   * the path goes down first, with ERR_FORWARD_TIMEOUT once `timeoutMs` has passed (checked on
   * the keepalive tick, so within a second of it: no timer per call).
   */
  call: (taskJson: Uint8Array, signal: AbortSignal, timeoutMs: number) => Promise<Buffer>
  /** Sends CLOSE and closes; pending calls fail with ERR_DIRECT_PATH. Idempotent. */
  close: () => void
}

/** The offer as sent: without candidates, which follow once the answer is applied. */
function offerSdp (sdp: string): string {
  return sdp.replace(/^a=(candidate:|end-of-candidates).*\r?\n/gm, '')
}

function pathError (message: string, callId?: string): ToolkitError {
  return new ToolkitError(ErrorCode.DirectPath, message, callId === undefined ? undefined : { details: { callId } })
}

/** Offers, signals through the relay and waits for the channel; rejects with ERR_DIRECT_PATH (cause kept) or ERR_ABORTED. */
export async function openDirectChannel (o: DirectChannelOptions): Promise<DirectChannel> {
  const limit = deadline(o.connectDeadlineMs ?? CONNECT_DEADLINE_MS, o.signal, ErrorCode.DirectPath, 'direct path did not open in time')
  let peer: IcePeer | undefined
  try {
    peer = await o.backend.offer({
      iceServers: o.iceServers,
      gatherTimeoutMs: OFFER_GATHER_MS,
      ...(o.relayOnly === true ? { relayOnly: true } : {}),
      ...(o.bindAddress === undefined ? {} : { bindAddress: o.bindAddress })
    }, limit.signal)
    const peerId = randomBytes(16).toString('base64url')
    const answer = await o.signalTask({
      task_id: `connect-${peerId}`,
      intent: CONNECT_INTENT,
      payload: encodeConnectOffer({ peerId, sdp: offerSdp(peer.local.sdp), candidates: [], iceServers: [...o.iceServers] })
    }, limit.signal)
    const remote = parseConnectAnswer(answer, peerId)
    peer.setRemote({ sdp: offerSdp(remote.sdp), candidates: [] })
    // Only now may the worker start its checks (see connect-intent.ts): trickle our candidates.
    // The worker's candidates wait for the trickle's answer, so the worker checks first (see
    // connect-intent.ts: the consumer is then ICE-connected before the worker's DTLS hello).
    const trickled = o.signalTask({
      task_id: `connect-${peerId}-candidates`,
      intent: CONNECT_INTENT,
      payload: encodeConnectCandidates({ peerId, candidates: peer.local.candidates })
    }, limit.signal).then(() => { peer?.addRemoteCandidates(remote.candidates) })
    const [channel] = await Promise.all([runChannel(peer, peerId, o, limit.signal), trickled])
    return channel
  } catch (err) {
    peer?.close()
    if (o.signal.aborted) throw err
    throw err instanceof ToolkitError && err.code === ErrorCode.DirectPath ? err : pathError(`direct path failed: ${errorMessage(err)}`)
  } finally {
    limit.clear()
  }
}

async function runChannel (peer: IcePeer, peerId: string, o: DirectChannelOptions, connectSignal: AbortSignal): Promise<DirectChannel> {
  const pending = new Map<string, { resolve: (b: Buffer) => void, reject: (e: ToolkitError) => void, deadline: number }>()
  /** Set once the channel is open; messages before that cannot arrive (they need the open channel). */
  const open: { pipe?: FramePipe, keepalive?: NodeJS.Timeout } = {}
  let down = false
  /** onDown reports only a channel that was open (a failed connect is the opener's error). */
  let opened = false
  let rttMs: number | undefined
  /** Call ids are unique per channel (and the peer id per worker), so a counter is enough: short frames, no random bytes per call. */
  let nextCallId = 0

  function fail (reason: string, local: boolean): void {
    if (down) return
    down = true
    clearInterval(open.keepalive)
    open.pipe?.close()
    peer.close()
    for (const [callId, p] of pending) p.reject(pathError(`direct path lost: ${reason}`, callId))
    pending.clear()
    if (!local && opened) o.onDown(reason)
  }

  function onFrame (frame: Frame): void {
    if (frame.type === MsgType.Response) {
      const r = parseResponse(frame.payload)
      if (r.kind !== 'buffered') return
      const p = pending.get(r.callId)
      if (p === undefined) return
      pending.delete(r.callId)
      // A view into the received message (never reused); the HTTP answer is built from it by one copy.
      p.resolve(r.body)
    } else if (frame.type === MsgType.Pong) {
      const echo = parsePingEcho(frame.payload)
      if (echo.length === 8) rttMs = performance.now() - Buffer.from(echo).readDoubleBE(0)
    } else if (frame.type === MsgType.Close) {
      fail('worker sent CLOSE', false)
    }
  }

  const channel = await peer.connect({
    onMessage: message => {
      try {
        for (const frame of (open.pipe as FramePipe).receive(message)) onFrame(frame)
      } catch (err) {
        fail(`bad frame: ${errorMessage(err)}`, false)
      }
    },
    onClose: reason => { fail(reason, false) }
  }, connectSignal)
  const pipe = new FramePipe(channel)
  open.pipe = pipe
  opened = true
  open.keepalive = setInterval(() => {
    const now = performance.now()
    if (now - pipe.lastReceivedAt > PATH_DEAD_MS) {
      fail(`no answer for ${PATH_DEAD_MS} ms`, false)
      return
    }
    for (const [callId, p] of pending) {
      if (now < p.deadline) continue
      pending.delete(callId)
      p.reject(new ToolkitError(ErrorCode.ForwardTimeout, 'no answer on the direct path before the task deadline'))
    }
    const echo = Buffer.allocUnsafe(8)
    echo.writeDoubleBE(performance.now(), 0)
    try { pipe.send(encodePing(echo)) } catch { fail('channel closed', false) }
  }, PATH_PING_MS)
  const pair = peer.selectedPair()
  const kind: DirectPathKind = pair?.local.type === 'relay' || pair?.remote.type === 'relay' ? 'turn' : 'direct'

  return {
    peerId,
    kind,
    pair,
    get rttMs () { return rttMs ?? peer.rttMs() },
    get bytesSent () { return pipe.bytesSent },
    get bytesReceived () { return pipe.bytesReceived },
    get inFlight () { return pending.size },
    call: async (taskJson, signal, timeoutMs) => {
      if (down) throw pathError('direct path is down')
      if (pending.size >= MAX_CALLS_IN_FLIGHT) throw new ToolkitError(ErrorCode.SessionBusy, 'too many calls in flight on the direct path')
      const callId = (nextCallId++).toString(36)
      const deadline = performance.now() + timeoutMs
      const answer = new Promise<Buffer>((resolve, reject) => { pending.set(callId, { resolve, reject, deadline }) })
      const onAbort = (): void => {
        const p = pending.get(callId)
        pending.delete(callId)
        p?.reject(new ToolkitError(ErrorCode.Aborted, 'task cancelled'))
      }
      answer.catch(() => { /* awaited below, or superseded by the write's failure */ })
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        try {
          // A channel going down wakes the write (FramePipe.close) and rejects `answer`.
          await pipe.write(encodeCall(callId, taskJson), signal)
        } catch (err) {
          pending.delete(callId)
          if (signal.aborted) throw err
          // The path went down around the write: the call is reported for a relayed retry.
          throw pathError(`direct path lost: ${errorMessage(err)}`, callId)
        }
        return await answer
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    },
    close: () => {
      if (down) return
      try { pipe.send(encodeClose()) } catch { /* already closed */ }
      fail('closed locally', true)
    }
  }
}
