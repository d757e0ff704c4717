/**
 * The writing side of one authenticated fleet link connection. The frames sent during one
 * event-loop turn leave together when it ends: as one BATCH frame under one MAC and in one write,
 * instead of one HMAC and one system call per frame. With a peer that did not offer batching in
 * the handshake they leave as separately signed frames, corked into one writev. A frame with a
 * large body is not copied into a batch: it writes out what is queued and goes on its own, so the
 * order of frames is kept. A batch is built in one reused buffer while the previous one has been
 * handed to the kernel, so a busy link does not allocate (and free) a buffer per turn.
 */
import type { Socket } from 'node:net'
import { LINK_HEADER_BYTES, LinkType, writeLinkHeader, type LinkMac } from './link-wire.ts'

/** Bodies above this are sent on their own rather than copied into a batch. */
const MAX_BATCHED_BODY_BYTES = 64 * 1024
/** A batch is written as soon as it holds this many bytes, before the turn ends. */
const MAX_BATCH_BYTES = 256 * 1024
/** Size of the reused batch buffer; a larger batch gets a buffer of its own. */
const SCRATCH_BYTES = 64 * 1024
const NO_HEAD = new Uint8Array(0)
const ZERO_MAC = new Uint8Array(LINK_HEADER_BYTES - 9)

interface QueuedFrame { type: number, id: number, head: Uint8Array, body: Uint8Array }

/** Signs and writes the frames of one link connection, a batch per event-loop turn. */
export class LinkSender {
  readonly #socket: Socket
  readonly #mac: LinkMac
  readonly #batching: boolean
  #queue: QueuedFrame[] = []
  #queuedBytes = 0
  #scheduled = false
  /** The reused batch buffer (allocated on first use). */
  #scratch: Buffer | undefined
  /** True while a write of {@link LinkSender.#scratch} is in flight. */
  #scratchBusy = false
  readonly #scratchWritten = (): void => { this.#scratchBusy = false }

  /** `batching`: the peer said in the handshake that it reads BATCH frames. */
  constructor (socket: Socket, mac: LinkMac, batching: boolean) {
    this.#socket = socket
    this.#mac = mac
    this.#batching = batching
  }

  /**
   * Queues one frame whose body is `head` followed by `body` for the end of this turn. Returns
   * false when the socket's buffer is above its high-water mark (as `socket.write` does), so a
   * producer can wait for `drain`.
   */
  send (type: number, id: number, body: Uint8Array, head: Uint8Array = NO_HEAD): boolean {
    if (this.#socket.destroyed) return false
    if (head.length + body.length > MAX_BATCHED_BODY_BYTES) {
      this.#flush()
      return this.#socket.write(this.#mac.frame(type, id, head.length === 0 ? body : Buffer.concat([head, body])))
    }
    this.#queue.push({ type, id, head, body })
    this.#queuedBytes += LINK_HEADER_BYTES + head.length + body.length
    if (this.#queuedBytes >= MAX_BATCH_BYTES) {
      this.#flush()
    } else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#onTurnEnd)
    }
    return !this.#socket.writableNeedDrain
  }

  readonly #onTurnEnd = (): void => {
    this.#scheduled = false
    this.#flush()
  }

  #flush (): void {
    const queue = this.#queue
    const bytes = this.#queuedBytes
    this.#queue = []
    this.#queuedBytes = 0
    if (queue.length === 0 || this.#socket.destroyed) return
    if (queue.length === 1 || !this.#batching) {
      this.#socket.cork()
      for (const f of queue) this.#socket.write(this.#mac.frame(f.type, f.id, f.head.length === 0 ? f.body : Buffer.concat([f.head, f.body])))
      this.#socket.uncork()
      return
    }
    const size = LINK_HEADER_BYTES + bytes
    const reuse = size <= SCRATCH_BYTES && !this.#scratchBusy
    if (reuse) this.#scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
    const out = reuse ? (this.#scratch as Buffer).subarray(0, size) : Buffer.allocUnsafe(size)
    writeLinkHeader(out, LinkType.Batch, queue.length, bytes)
    let off = LINK_HEADER_BYTES
    for (const f of queue) {
      const length = f.head.length + f.body.length
      writeLinkHeader(out, f.type, f.id, length, off)
      out.set(ZERO_MAC, off + 9)
      out.set(f.head, off + LINK_HEADER_BYTES)
      out.set(f.body, off + LINK_HEADER_BYTES + f.head.length)
      off += LINK_HEADER_BYTES + length
    }
    this.#mac.signInPlace(out)
    if (!reuse) {
      this.#socket.write(out)
      return
    }
    // The buffer is reused once the socket has handed this write to the kernel.
    this.#scratchBusy = true
    this.#socket.write(out, this.#scratchWritten)
  }
}
