/**
 * One connection of the worker to the relay, from dial to close: handshake with deadlines,
 * then the bound loop (CALL → task runner → RESPONSE, PING keepalive, idle deadline, CLOSE).
 */
import { abortError, deadline, raceSignal } from '../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage } from '../src/errors.ts'
import { parseJsonBytes } from '../src/http/json-text.ts'
import type { Logger } from '../src/log.ts'
import { MsgType, type Frame } from '../src/protocol/frame.ts'
import { encodeClose, encodePing, parseCall, peekCallId, type CallMessage, type RelayBind } from '../src/protocol/messages.ts'
import { FrameConnection, type ByteStream } from '../src/transport/frame-connection.ts'
import { dialRelay } from './dial.ts'
import { createHandshake } from './handshake.ts'
import { startKeepalive, type Keepalive } from './keepalive.ts'
import type { DisconnectReason, TaskHandler } from './options.ts'
import { createTaskRunner, type TaskRunner } from './task-runner.ts'

/** Options for {@link openSession}. */
export interface SessionOptions {
  host: string
  port: number
  /** Opens the connection instead of a TCP dial to host:port (TLS, WebSocket, long-poll: worker/transports/). */
  dial?: ((signal: AbortSignal | undefined) => Promise<ByteStream>) | undefined
  bind: RelayBind
  connectTimeoutMs: number
  handshakeTimeoutMs: number
  pingIntervalMs: number
  idleTimeoutMs: number
  handler: TaskHandler
  maxConcurrent: number
  maxQueued: number
  taskTimeoutMs: number
  logger: Logger
}

/** How a bound session ended. */
export interface SessionEnd {
  reason: DisconnectReason
  error?: ToolkitError
}

/** The worker's bound connection to one relay (one dial, from RELAY_ACK to close). */
export interface RelayConnection {
  /** The relay's HTTP port from RELAY_ACK key 4 (9484 when absent). */
  readonly relayHttpPort: number
  /** Resolves once the socket is closed and every task of the session has been answered or aborted. */
  readonly ended: Promise<SessionEnd>
  /**
   * Ends the session gracefully: new CALLs are refused, in-flight tasks get `graceMs` to finish
   * and answer, the rest are aborted through their signal and answered with an error, then
   * CLOSE is sent and the socket ended. Idempotent; resolves like {@link RelayConnection.ended}.
   */
  shutdown: (graceMs: number) => Promise<SessionEnd>
  /**
   * Sends a PING now, outside the keepalive interval: after a network change (a NAT that lost its
   * mappings) the worker's packet restores the mapping the relay's next frame needs, or the reset
   * it draws ends a dead session at once instead of at the next keepalive.
   */
  ping: () => void
}

/** The error message of tasks aborted by a stop. */
export const STOPPING_ERROR = 'worker stopping'

const PING_FRAME = encodePing()

/**
 * Dials the relay, runs the handshake and resolves with the bound session. Rejects with
 * ERR_CONNECT_TIMEOUT, ERR_HANDSHAKE_TIMEOUT, ERR_BIND_REJECTED (or a ticket code),
 * ERR_PROTOCOL, ERR_CONNECTION_CLOSED or ERR_ABORTED; the socket is closed in every failure case.
 * `signal` cancels the dial and the handshake only; a bound session ends through `shutdown()`.
 */
export async function openSession (options: SessionOptions, signal?: AbortSignal): Promise<RelayConnection> {
  const socket = options.dial === undefined ? await dialRelay(options.host, options.port, { timeoutMs: options.connectTimeoutMs, signal }) : await options.dial(signal)
  return await new Promise<RelayConnection>((resolve, reject) => { runSession(socket, options, signal, resolve, reject) })
}

/** Waits for `promise` (which never rejects) for at most `ms`. */
async function within (promise: Promise<unknown>, ms: number): Promise<void> {
  const limit = deadline(ms)
  try {
    await raceSignal(promise, limit.signal)
  } catch {
    // The grace period is over; the caller moves on.
  } finally {
    limit.clear()
  }
}

function runSession (socket: ByteStream, o: SessionOptions, signal: AbortSignal | undefined, onBound: (s: RelayConnection) => void, onFailed: (err: ToolkitError) => void): void {
  const log = o.logger
  const handshake = createHandshake(o.bind)
  let phase: 'handshake' | 'bound' | 'closing' = 'handshake'
  let endReason: DisconnectReason | undefined
  let runner: TaskRunner | undefined
  let keepalive: Keepalive | undefined
  let handshakeTimer: NodeJS.Timeout | undefined
  let shuttingDown: Promise<SessionEnd> | undefined
  let resolveEnded: (end: SessionEnd) => void = () => {}
  const ended = new Promise<SessionEnd>(resolve => { resolveEnded = resolve })
  /** Fires when the socket is gone, so answers waiting for 'drain' give up. */
  const gone = new AbortController()

  const conn = new FrameConnection(socket, { onFrame, onClose })
  const onAbort = (): void => { conn.destroy(abortError(signal, 'relay handshake')) }

  function armHandshakeTimer (awaited: string): void {
    clearTimeout(handshakeTimer)
    handshakeTimer = setTimeout(() => {
      conn.destroy(new ToolkitError(ErrorCode.HandshakeTimeout, `no ${awaited} from the relay within ${o.handshakeTimeoutMs} ms`, { details: { timeoutMs: o.handshakeTimeoutMs } }))
    }, o.handshakeTimeoutMs)
  }

  function onFrame (frame: Frame): void {
    if (phase === 'handshake') {
      // A throw here (unexpected frame, refused bind) destroys the connection with that error.
      const step = handshake.onFrame(frame)
      if (step.kind === 'send') {
        conn.send(step.frame)
        armHandshakeTimer('RELAY_ACK')
        return
      }
      clearTimeout(handshakeTimer)
      signal?.removeEventListener('abort', onAbort)
      phase = 'bound'
      runner = createTaskRunner({
        handler: o.handler,
        maxConcurrent: o.maxConcurrent,
        maxQueued: o.maxQueued,
        taskTimeoutMs: o.taskTimeoutMs,
        send: (out: Buffer) => conn.write(out, gone.signal),
        logger: log
      })
      keepalive = startKeepalive({
        pingIntervalMs: o.pingIntervalMs,
        idleTimeoutMs: o.idleTimeoutMs,
        sendPing: () => { conn.send(PING_FRAME) },
        lastReceivedAt: () => conn.lastReceivedAt,
        onIdle: () => {
          endReason ??= 'idle'
          conn.destroy(new ToolkitError(ErrorCode.IdleTimeout, `no frame from the relay for ${o.idleTimeoutMs} ms`, { details: { timeoutMs: o.idleTimeoutMs } }))
        }
      })
      onBound({ relayHttpPort: step.relayHttpPort, ended, shutdown, ping: () => { if (phase === 'bound') conn.send(PING_FRAME) } })
      return
    }
    switch (frame.type) {
      case MsgType.Call:
        onCall(frame.payload)
        break
      case MsgType.Close:
        endReason ??= 'close'
        conn.end()
        break
      case MsgType.Pong:
        break
      default:
        // Upstream workers ignore every other type, relay PINGs included.
        log.debug({ type: frame.type }, 'ignored frame from relay')
    }
  }

  function onCall (payload: Buffer): void {
    const tasks = runner as TaskRunner
    let call: CallMessage
    try {
      call = parseCall(payload)
    } catch (err) {
      // Upstream Python drops such a CALL and the consumer waits 120 s (spec §6.2 item 15).
      const callId = peekCallId(payload)
      log.warn({ err, callId }, 'undecodable CALL')
      if (callId !== undefined) tasks.answer(callId, { error: `invalid CALL: ${errorMessage(err)}` })
      return
    }
    let task: unknown
    try {
      task = parseJsonBytes(call.body)
    } catch (err) {
      log.warn({ err, callId: call.callId }, 'CALL body is not JSON')
      tasks.answer(call.callId, { error: `task is not valid JSON: ${errorMessage(err)}` })
      return
    }
    tasks.submit(call.callId, task)
  }

  function onClose (err: ToolkitError | undefined): void {
    clearTimeout(handshakeTimer)
    signal?.removeEventListener('abort', onAbort)
    keepalive?.stop()
    gone.abort(new ToolkitError(ErrorCode.ConnectionClosed, 'relay connection closed'))
    if (runner === undefined) {
      const error = err ?? new ToolkitError(ErrorCode.ConnectionClosed, 'relay closed the connection during the handshake')
      resolveEnded({ reason: 'error', error })
      onFailed(error)
      return
    }
    const reason: DisconnectReason = endReason ?? (err === undefined ? 'eof' : 'error')
    const end: SessionEnd = err === undefined ? { reason } : { reason, error: err }
    runner.abortAll(new ToolkitError(ErrorCode.SessionClosed, 'relay session closed'))
    resolveEnded(end)
  }

  async function shutdown (graceMs: number): Promise<SessionEnd> {
    shuttingDown ??= (async () => {
      const tasks = runner as TaskRunner
      if (phase === 'bound' && !conn.closed) {
        phase = 'closing'
        tasks.closeIntake(STOPPING_ERROR)
        // The relay stops reading at CLOSE, so answers must go out before it.
        await within(Promise.race([tasks.whenIdle(), ended]), graceMs)
        tasks.abortAll(new ToolkitError(ErrorCode.Aborted, `${STOPPING_ERROR}: task aborted after the ${graceMs} ms grace period`))
        endReason ??= 'stopped'
        conn.end(encodeClose())
      }
      return await ended
    })()
    return await shuttingDown
  }

  conn.send(handshake.init)
  armHandshakeTimer('ACK')
  if (signal?.aborted === true) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
}
