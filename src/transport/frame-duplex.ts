/**
 * A duplex that plays the far end of a relay byte stream in process: frames written into it
 * are decoded and handed to {@link FrameDuplex.onFrame}; frames it produces are pushed to the
 * reader. Writes are held (backpressure) while {@link FrameDuplex.congested} is true, until
 * {@link FrameDuplex.releaseWrites}. The relay's long-poll bridge and the worker's long-poll
 * stream are both one of these.
 */
import { Duplex } from 'node:stream'
import { FrameDecoder, type Frame } from '../protocol/frame.ts'

/** Base of an in-process frame peer. */
export abstract class FrameDuplex extends Duplex {
  readonly #decoder = new FrameDecoder()
  /** The writer's callback, held while congested. */
  #heldWrite: (() => void) | undefined

  constructor () {
    super({ allowHalfOpen: false })
  }

  /** Handles one frame the other side wrote. */
  protected abstract onFrame (frame: Frame): void

  /** True while the writer must wait (checked after every write). */
  protected abstract get congested (): boolean

  /** True once nothing more may be pushed to the reader. */
  protected abstract get finished (): boolean

  /** Pushes a frame to the reader unless the stream is over. */
  protected send (frame: Buffer): void {
    if (!this.finished && !this.destroyed) this.push(frame)
  }

  /** Lets a held write complete (call when no longer congested, and when ending). */
  protected releaseWrites (): void {
    const release = this.#heldWrite
    this.#heldWrite = undefined
    release?.()
  }

  override _read (): void {
    // Frames are pushed as they are produced; there is nothing to fetch on demand.
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      callback(err as Error)
      return
    }
    for (const frame of frames) this.onFrame(frame)
    if (this.congested) this.#heldWrite = () => { callback() }
    else callback()
  }
}
