/**
 * A TCP socket speaking IICP frames: a streaming decoder on the read side, backpressure-aware
 * writes, and exactly one close notification. Shared by the relay and the worker. Any duplex
 * byte stream works (TLS socket, WebSocket stream, long-poll bridge), see {@link ByteStream}.
 */
import type { Duplex } from 'node:stream'
import { raceSignal } from '../abort.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../errors.ts'
import { unwrapIPv4Mapped } from '../host-port.ts'
import { MAX_FRAME_PAYLOAD_BYTES, SOCKET_HIGH_WATER_BYTES } from '../limits.ts'
import { FrameDecoder, type Frame } from '../protocol/frame.ts'
import type { BudgetHolder, InboundBudget } from './inbound-budget.ts'

/** Options for {@link FrameConnection}. */
export interface FrameConnectionOptions {
  /** Called for every complete frame, in order. A throw closes the connection with that error. */
  onFrame: (frame: Frame) => void
  /** Called exactly once when the socket is gone; `err` is undefined for a clean EOF or local close. */
  onClose: (err: ToolkitError | undefined) => void
  /** Largest accepted payload. @default 16 MiB */
  maxPayload?: number
  /** Queued bytes beyond which {@link FrameConnection.write} waits for 'drain'. @default 1 MiB */
  highWaterBytes?: number
  /** A server-wide budget for bytes held in partial inbound frames (the relay's); none by default. */
  inbound?: InboundBudget | undefined
  /** Drop payloads that are not CBOR maps as they arrive (see {@link FrameDecoder}). @default false */
  discardNonMapPayloads?: boolean
  /** Payloads of this many bytes or more reach `onFrame` as their chunks ({@link Frame.chunks}), not joined. @default never */
  chunkedPayloadsFrom?: number
}

/**
 * A connected byte stream: a `net.Socket`, a `tls.TLSSocket`, or any duplex that carries the
 * relay byte stream (WebSocket, long-poll bridge) and reports the peer's address.
 */
export type ByteStream = Duplex & { readonly remoteAddress?: string | undefined, setNoDelay?: (noDelay?: boolean) => unknown }

/** How long `end()` waits for the peer to take the final bytes before destroying the socket. */
const END_GRACE_MS = 1_000

/** Wraps a connected socket. The connection owns the socket: closing it destroys the socket. */
export class FrameConnection implements BudgetHolder {
  /** The underlying socket (owned). */
  readonly socket: ByteStream
  /** `performance.now()` of the last received byte. */
  lastReceivedAt: number
  readonly #decoder: FrameDecoder
  readonly #options: FrameConnectionOptions
  readonly #highWater: number
  #closed = false
  #closeError: ToolkitError | undefined
  #finished = false
  /** A frame was sent in this event-loop turn (see {@link FrameConnection.send}). */
  #sentThisTurn = false
  /** Later frames of this turn are corked until its end. */
  #corked = false
  readonly #endTurn = (): void => {
    this.#sentThisTurn = false
    if (!this.#corked) return
    this.#corked = false
    this.socket.uncork()
  }
  #drainWait: Promise<void> | undefined
  /** The grace timer `end()` starts; cleared when the socket closes first. */
  #endGrace: NodeJS.Timeout | undefined

  constructor (socket: ByteStream, options: FrameConnectionOptions) {
    this.socket = socket
    this.#options = options
    this.#decoder = new FrameDecoder(options.maxPayload ?? MAX_FRAME_PAYLOAD_BYTES, undefined, options.discardNonMapPayloads ?? false, options.chunkedPayloadsFrom)
    this.#highWater = options.highWaterBytes ?? SOCKET_HIGH_WATER_BYTES
    this.lastReceivedAt = performance.now()
    socket.setNoDelay?.(true)
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    socket.on('error', (err: Error) => {
      // A stream that fails with a ToolkitError (a transport's own refusal) keeps its code.
      this.#closeError ??= isToolkitError(err) ? err : new ToolkitError(ErrorCode.ConnectionClosed, `socket error: ${err.message}`, { cause: err })
    })
    socket.on('end', () => { socket.end() })
    socket.on('close', () => { this.#finish() })
  }

  /** True once the socket has closed or `destroy()`/`end()` was called. */
  get closed (): boolean {
    return this.#closed || this.socket.destroyed
  }

  /** The peer's address as the socket saw it (IPv4-mapped IPv6 unwrapped). */
  get remoteAddress (): string {
    return unwrapIPv4Mapped(this.socket.remoteAddress ?? '')
  }

  /**
   * Queues a frame (one buffer, or its parts in order). Returns false when the socket's buffer is
   * over the high-water mark. The first frame of an event-loop turn is written at once (its parts
   * in one `writev`), so the peer starts on it while this turn goes on; the frames after it in the
   * same turn are corked and leave together in one `writev` when the turn ends.
   */
  send (frame: Buffer | readonly Buffer[]): boolean {
    if (this.closed) return false
    if (this.#sentThisTurn) {
      if (!this.#corked) {
        this.#corked = true
        this.socket.cork()
      }
      this.#write(frame)
    } else {
      this.#sentThisTurn = true
      setImmediate(this.#endTurn)
      const parts = !Buffer.isBuffer(frame)
      if (parts) this.socket.cork()
      this.#write(frame)
      if (parts) this.socket.uncork()
    }
    return this.socket.writableLength < this.#highWater
  }

  #write (frame: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(frame)) this.socket.write(frame)
    else for (const part of frame) this.socket.write(part)
  }

  /**
   * Queues a frame and returns nothing while the socket's buffer stays under the high-water
   * mark; over it, returns the wait for 'drain', which rejects with ERR_CONNECTION_CLOSED if the
   * socket closes or ERR_ABORTED through `signal`. Throws ERR_CONNECTION_CLOSED when the
   * connection is already closed. (No promise on the usual path: a worker writes one per task.)
   */
  write (frame: Buffer | readonly Buffer[], signal?: AbortSignal): Promise<void> | undefined {
    if (this.closed) throw new ToolkitError(ErrorCode.ConnectionClosed, 'connection closed')
    if (this.send(frame)) return undefined
    return raceSignal(this.#drained(), signal, 'write')
  }

  /** One shared wait for 'drain' (or close) per backpressure episode, however many writers wait on it. */
  #drained (): Promise<void> {
    this.#drainWait ??= new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.socket.off('drain', onDrain)
        this.socket.off('close', onClose)
        this.#drainWait = undefined
      }
      const onDrain = (): void => { done(); resolve() }
      const onClose = (): void => { done(); reject(new ToolkitError(ErrorCode.ConnectionClosed, 'connection closed while writing')) }
      this.socket.on('drain', onDrain)
      this.socket.on('close', onClose)
    })
    // Writers that gave up (aborted) no longer listen; the rejection is theirs to see, not the process's.
    this.#drainWait.catch(() => {})
    return this.#drainWait
  }

  /** Sends `finalFrame` (if given), half-closes, and destroys the socket if the peer lingers. */
  end (finalFrame?: Buffer): void {
    if (this.closed) return
    this.#closed = true
    if (finalFrame !== undefined) this.socket.write(finalFrame)
    this.socket.end()
    this.#endGrace = setTimeout(() => { this.socket.destroy() }, END_GRACE_MS)
    this.#endGrace.unref()
  }

  /** Stops reading from the socket (the inbound budget is tight). */
  pauseReading (): void {
    this.socket.pause()
  }

  /** Reads from the socket again. */
  resumeReading (): void {
    if (!this.closed) this.socket.resume()
  }

  /** Destroys the socket now; `err` is reported to `onClose`. */
  destroy (err?: ToolkitError): void {
    if (err !== undefined) this.#closeError ??= err
    this.#closed = true
    this.socket.destroy()
  }

  #onData (chunk: Buffer): void {
    this.lastReceivedAt = performance.now()
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.destroy(isToolkitError(err) ? err : new ToolkitError(ErrorCode.Protocol, 'undecodable frame', { cause: err }))
      return
    }
    this.#options.inbound?.update(this, this.#decoder.bufferedBytes, this.#decoder.partialFrameLength, this.lastReceivedAt)
    for (const frame of frames) {
      if (this.socket.destroyed) return
      try {
        this.#options.onFrame(frame)
      } catch (err) {
        this.destroy(isToolkitError(err) ? err : new ToolkitError(ErrorCode.Protocol, 'frame handler failed', { cause: err }))
        return
      }
    }
  }

  #finish (): void {
    this.#closed = true
    this.#options.inbound?.release(this)
    clearTimeout(this.#endGrace)
    this.#endGrace = undefined
    if (this.#finished) return
    this.#finished = true
    this.#options.onClose(this.#closeError)
  }
}
