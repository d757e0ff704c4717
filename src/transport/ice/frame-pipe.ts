/**
 * IICP frames over a peer channel: the channel is treated as an ordered byte stream, frames are
 * cut into messages of at most the channel's message size, and the streaming frame decoder
 * joins them again. Frames queued in one event-loop turn go out together in a `setImmediate`
 * (small frames share one message): each message costs a native send on this side and a
 * thread hop into the event loop on the other, so batching is what lets many calls in flight
 * scale. Writes wait (bounded by a high-water mark, which counts the batch too) while the
 * channel's send queue is full, like a TCP socket's 'drain'.
 */
import { raceSignal } from '../../abort.ts'
import { ErrorCode, ToolkitError } from '../../errors.ts'
import { MAX_FRAME_PAYLOAD_BYTES, SOCKET_HIGH_WATER_BYTES } from '../../limits.ts'
import { FrameDecoder, type Frame } from '../../protocol/frame.ts'
import type { PeerChannel } from './types.ts'

/** Frames in and out of one peer channel. */
export class FramePipe {
  /** `performance.now()` of the last received message. */
  lastReceivedAt = performance.now()
  /** Bytes sent and received (channel payload bytes). */
  bytesSent = 0
  bytesReceived = 0
  readonly #channel: PeerChannel
  readonly #decoder: FrameDecoder
  readonly #highWater: number
  #drainWaiters: Array<() => void> = []
  #batch: Buffer[] = []
  #batchBytes = 0
  #flushing: NodeJS.Immediate | undefined
  #closed = false
  /**
   * The channel's buffered bytes as read after the last flush: an upper bound until the next one
   * (only this pipe adds to it), so a write costs no native call while the channel keeps up.
   */
  #bufferedAfterFlush = 0

  constructor (channel: PeerChannel, highWaterBytes = SOCKET_HIGH_WATER_BYTES, maxPayload = MAX_FRAME_PAYLOAD_BYTES) {
    this.#channel = channel
    this.#decoder = new FrameDecoder(maxPayload)
    this.#highWater = highWaterBytes
    channel.onBufferedLow(Math.floor(highWaterBytes / 2), () => { this.#wakeDrainWaiters() })
  }

  /** Feeds one received message; returns the frames it completes. Throws ERR_FRAME_MAGIC or ERR_FRAME_TOO_LARGE. */
  receive (message: Buffer): Frame[] {
    this.lastReceivedAt = performance.now()
    this.bytesReceived += message.length
    return this.#decoder.push(message)
  }

  /** Queues a frame for this turn's batch (no waiting). Throws ERR_CONNECTION_CLOSED when the channel is gone. */
  send (frame: Buffer): void {
    if (this.#closed || !this.#channel.open) throw new ToolkitError(ErrorCode.ConnectionClosed, 'direct channel closed')
    this.#batch.push(frame)
    this.#batchBytes += frame.length
    this.bytesSent += frame.length
    this.#flushing ??= setImmediate(() => { this.#flush() })
  }

  /** Sends the batch: small frames joined into messages of at most the channel's message size, large ones cut. */
  #flush (): void {
    this.#flushing = undefined
    const frames = this.#batch
    this.#batch = []
    this.#batchBytes = 0
    const max = this.#channel.maxMessageBytes
    const bytes = frames.length === 1 ? frames[0] as Buffer : Buffer.concat(frames)
    for (let offset = 0; offset < bytes.length; offset += max) {
      // A closed channel fails its calls through the peer's onClose; nothing to report here.
      if (!this.#channel.send(bytes.subarray(offset, Math.min(bytes.length, offset + max)))) return
    }
    this.#bufferedAfterFlush = this.#channel.bufferedBytes
    // Writers held back by the batch itself get no buffered-low event when the channel took it all.
    if (this.#bufferedAfterFlush <= this.#highWater) this.#wakeDrainWaiters()
  }

  /** Queues a frame, then waits while the channel holds more than the high-water mark. */
  async write (frame: Buffer, signal: AbortSignal): Promise<void> {
    this.send(frame)
    while (this.#bufferedAfterFlush + this.#batchBytes > this.#highWater) {
      await raceSignal(new Promise<void>(resolve => { this.#drainWaiters.push(resolve) }), signal, 'direct channel drain')
      this.#bufferedAfterFlush = this.#channel.bufferedBytes
    }
  }

  /** Drops the unsent batch and releases writers waiting for drain (call when the channel closes). */
  close (): void {
    this.#closed = true
    clearImmediate(this.#flushing)
    this.#flushing = undefined
    this.#batch = []
    this.#batchBytes = 0
    this.#wakeDrainWaiters()
  }

  #wakeDrainWaiters (): void {
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }
}
