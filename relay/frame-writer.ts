/**
 * Backpressure-aware frame writes to one worker socket. A frame goes straight to the socket
 * while the socket's queue is under the high-water mark; otherwise it waits in line and is
 * written after 'drain', one at a time while the queue stays under the mark. So the socket
 * never holds more than the mark plus one frame, and a caller whose deadline passes while it
 * waits leaves nothing behind.
 */
import { abortError } from '../src/abort.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { SOCKET_HIGH_WATER_BYTES } from '../src/limits.ts'
import type { FrameConnection } from '../src/transport/frame-connection.ts'

/** A frame: one buffer, or its parts in order. */
type FrameBytes = Buffer | readonly Buffer[]

interface Waiter {
  frame: FrameBytes
  resolve: () => void
  reject: (err: ToolkitError) => void
  signal: AbortSignal | undefined
  onAbort: () => void
}

/** Serialises frame writes on one connection with bounded queueing. */
export class FrameWriter {
  readonly #conn: FrameConnection
  readonly #highWater: number
  readonly #onBytes: (n: number) => void
  readonly #waiters: Waiter[] = []
  #draining = false

  constructor (conn: FrameConnection, onBytes: (n: number) => void, highWater = SOCKET_HIGH_WATER_BYTES) {
    this.#conn = conn
    this.#onBytes = onBytes
    this.#highWater = highWater
  }

  /** True when a frame written now would have to wait. */
  get congested (): boolean {
    return this.#waiters.length > 0 || this.#conn.socket.writableLength >= this.#highWater
  }

  /** Writes `frame` now, or after the socket drains. Rejects with ERR_CONNECTION_CLOSED or the signal's abort error. */
  async write (frame: FrameBytes, signal?: AbortSignal): Promise<void> {
    if (this.#conn.closed) throw new ToolkitError(ErrorCode.ConnectionClosed, 'worker connection closed')
    if (!this.congested) {
      this.#send(frame)
      return
    }
    if (signal?.aborted === true) throw abortError(signal, 'relay write')
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        frame,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter)
          if (i >= 0) this.#waiters.splice(i, 1)
          reject(abortError(signal, 'relay write'))
        }
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#waiters.push(waiter)
      this.#awaitDrain()
    })
  }

  /** Writes a small control frame now unless the socket is congested; returns whether it was written. */
  trySend (frame: FrameBytes): boolean {
    if (this.#conn.closed || this.congested) return false
    this.#send(frame)
    return true
  }

  /** Rejects every waiting write (the connection is gone). */
  failAll (err: ToolkitError): void {
    for (const w of this.#waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort)
      w.reject(err)
    }
  }

  #send (frame: FrameBytes): void {
    this.#conn.send(frame)
    let bytes = 0
    if (Buffer.isBuffer(frame)) bytes = frame.length
    else for (const part of frame) bytes += part.length
    this.#onBytes(bytes)
  }

  #awaitDrain (): void {
    if (this.#draining) return
    this.#draining = true
    this.#conn.socket.once('drain', () => {
      this.#draining = false
      this.#flush()
    })
  }

  #flush (): void {
    while (this.#waiters.length > 0 && this.#conn.socket.writableLength < this.#highWater) {
      const w = this.#waiters.shift() as Waiter
      w.signal?.removeEventListener('abort', w.onAbort)
      if (this.#conn.closed) {
        w.reject(new ToolkitError(ErrorCode.ConnectionClosed, 'worker connection closed'))
        continue
      }
      this.#send(w.frame)
      w.resolve()
    }
    if (this.#waiters.length > 0) this.#awaitDrain()
  }
}
