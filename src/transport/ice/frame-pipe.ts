/**
 * IICP frames over a peer channel: the channel is treated as an ordered byte stream, frames are
 * cut into messages of at most the channel's message size, and the streaming frame decoder
 * joins them again. Writes wait (bounded by a high-water mark) while the channel's send queue
 * is full, like a TCP socket's 'drain'.
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

  /** Queues a frame now (no waiting). Throws ERR_CONNECTION_CLOSED when the channel is gone. */
  send (frame: Buffer): void {
    const max = this.#channel.maxMessageBytes
    for (let offset = 0; offset < frame.length; offset += max) {
      if (!this.#channel.send(frame.subarray(offset, Math.min(frame.length, offset + max)))) {
        throw new ToolkitError(ErrorCode.ConnectionClosed, 'direct channel closed')
      }
    }
    this.bytesSent += frame.length
  }

  /** Queues a frame, then waits while the channel holds more than the high-water mark. */
  async write (frame: Buffer, signal: AbortSignal): Promise<void> {
    this.send(frame)
    while (this.#channel.bufferedBytes > this.#highWater) {
      await raceSignal(new Promise<void>(resolve => { this.#drainWaiters.push(resolve) }), signal, 'direct channel drain')
    }
  }

  /** Releases writers waiting for drain (call when the channel closes). */
  close (): void {
    this.#wakeDrainWaiters()
  }

  #wakeDrainWaiters (): void {
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of waiters) w()
  }
}
