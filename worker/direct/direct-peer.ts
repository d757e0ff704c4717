/**
 * One consumer's direct channel on the worker: CALL frames go to a task runner of their own and
 * RESPONSE frames come back on the channel; PING is answered with PONG. The peer is closed when
 * no frame arrives for `deadAfterMs` (the consumer pings every second), when no CALL arrives for
 * `idleAfterMs` (5 minutes), or when the channel fails. Losing the channel does not abort running
 * tasks: their outcome stays in the call ledger for the consumer's relayed retry.
 */
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { parseJsonBytes } from '../../src/http/json-text.ts'
import type { Logger } from '../../src/log.ts'
import { MsgType, type Frame } from '../../src/protocol/frame.ts'
import { encodePing, encodePong, parseCall, parsePingEcho, peekCallId } from '../../src/protocol/messages.ts'
import { FramePipe } from '../../src/transport/ice/frame-pipe.ts'
import type { IcePeer } from '../../src/transport/ice/types.ts'
import type { TaskHandler } from '../options.ts'
import { createTaskRunner, type TaskRunner } from '../task-runner.ts'

const QUIET_PING = encodePing()

/** Options for {@link serveDirectPeer}. */
export interface DirectPeerOptions {
  peerId: string
  /** Runs one task; `callId` is the consumer's call id on this channel. */
  handler: TaskHandler
  maxConcurrent: number
  maxQueued: number
  taskTimeoutMs: number
  /** Deadline for the channel to open after the answer went out. */
  connectTimeoutMs: number
  /** No frame for this long: the consumer is gone. */
  deadAfterMs: number
  /** No CALL for this long: the peer is closed as idle. */
  idleAfterMs: number
  /**
   * No frame for this long (the consumer pings every second): the network may have changed. The
   * peer then sends PINGs of its own, once per watchdog tick (they restore a NAT mapping its router
   * lost, so the consumer's pings get through again), and calls `onQuiet` once per quiet spell.
   * @default 1_500
   */
  quietAfterMs?: number
  onQuiet?: () => void
  logger: Logger
  /** Called once when the peer is closed, for whatever reason. */
  onClosed: (reason: string) => void
}

/** A served peer. */
export interface DirectPeer {
  /** Tasks running or queued on this peer. */
  readonly busy: number
  /** Adds trickled candidates of the consumer. */
  addCandidates: (candidates: readonly string[]) => void
  /** Closes the channel; running tasks keep running unless `abortTasks` is set. */
  close: (reason: string, abortTasks?: ToolkitError) => void
}

/** Starts serving `peer` (its answer has been sent); the channel must open within the connect deadline. */
export function serveDirectPeer (peer: IcePeer, o: DirectPeerOptions): DirectPeer {
  const log = o.logger.child({ peerId: o.peerId })
  const gone = new AbortController()
  let pipe: FramePipe | undefined
  let closed = false
  let lastCallAt = performance.now()
  let watchdog: NodeJS.Timeout | undefined
  const runner: TaskRunner = createTaskRunner({
    handler: o.handler,
    maxConcurrent: o.maxConcurrent,
    maxQueued: o.maxQueued,
    taskTimeoutMs: o.taskTimeoutMs,
    send: frame => pipe?.write(frame, gone.signal),
    logger: log
  })

  function shut (reason: string): void {
    if (closed) return
    closed = true
    clearInterval(watchdog)
    gone.abort(new ToolkitError(ErrorCode.ConnectionClosed, `direct channel closed: ${reason}`))
    runner.closeIntake(`direct channel closed: ${reason}`)
    pipe?.close()
    peer.close()
    log.debug({ reason }, 'direct peer closed')
    o.onClosed(reason)
  }

  function onCall (payload: Buffer): void {
    lastCallAt = performance.now()
    let callId: string
    let task: unknown
    try {
      const call = parseCall(payload)
      callId = call.callId
      task = parseJsonBytes(call.body)
    } catch (err) {
      const id = peekCallId(payload)
      if (id !== undefined) runner.answer(id, { error: `invalid CALL: ${errorMessage(err)}` })
      return
    }
    runner.submit(callId, task)
  }

  function onFrame (frame: Frame): void {
    if (frame.type === MsgType.Call) onCall(frame.payload)
    else if (frame.type === MsgType.Ping) pipe?.send(encodePong(parsePingEcho(frame.payload)))
    else if (frame.type === MsgType.Close) shut('consumer sent CLOSE')
  }

  const limit = AbortSignal.timeout(o.connectTimeoutMs)
  peer.connect({
    onMessage: message => {
      try {
        for (const frame of (pipe as FramePipe).receive(message)) onFrame(frame)
      } catch (err) {
        shut(`bad frame: ${errorMessage(err)}`)
      }
    },
    onClose: reason => { shut(reason) }
  }, limit).then(channel => {
    if (closed) return
    pipe = new FramePipe(channel)
    let quiet = false
    watchdog = setInterval(() => {
      const now = performance.now()
      const silentFor = now - (pipe as FramePipe).lastReceivedAt
      if (silentFor > o.deadAfterMs) shut('consumer stopped answering')
      else if (runner.running + runner.queued === 0 && now - lastCallAt > o.idleAfterMs) shut('idle')
      else if (silentFor > (o.quietAfterMs ?? 1_500)) {
        try { pipe?.send(QUIET_PING) } catch { /* closed: shut follows */ }
        if (!quiet) o.onQuiet?.()
        quiet = true
      } else {
        quiet = false
      }
    }, Math.min(1_000, o.deadAfterMs))
    watchdog.unref()
    log.debug({ pair: peer.selectedPair() }, 'direct channel open')
  }, (err: unknown) => { shut(`not connected: ${errorMessage(err)}`) })

  return {
    get busy () { return runner.running + runner.queued },
    addCandidates: candidates => { peer.addRemoteCandidates(candidates) },
    close: (reason, abortTasks) => {
      shut(reason)
      if (abortTasks !== undefined) runner.abortAll(abortTasks)
    }
  }
}
