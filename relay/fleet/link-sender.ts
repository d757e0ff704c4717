/**
 * The writing side of one authenticated fleet link connection. The frames sent during one
 * event-loop turn leave together when it ends: as one BATCH frame under one MAC and in one write,
 * instead of one HMAC and one system call per frame. With a peer that did not offer batching in
 * the handshake they leave as separately signed frames, corked into one writev. A frame with a
 * large body is not copied into a batch: it writes out what is queued and goes on its own, so the
 * order of frames is kept.
 */
import type { Socket } from 'node:net'
import { LINK_HEADER_BYTES, LinkType, writeLinkHeader, type LinkMac } from './link-wire.ts'

/** Bodies above this are sent on their own rather than copied into a batch. */
const MAX_BATCHED_BODY_BYTES = 64 * 1024
/** A batch is written as soon as it holds this many bytes, before the turn ends. */
const MAX_BATCH_BYTES = 256 * 1024

interface QueuedFrame { type: number, id: number, body: Uint8Array }

/** Signs and writes the frames of one link connection, a batch per event-loop turn. */
export class LinkSender {
  readonly #socket: Socket
  readonly #mac: LinkMac
  readonly #batching: boolean
  #queue: QueuedFrame[] = []
  #queuedBytes = 0
  #scheduled = false

  /** `batching`: the peer said in the handshake that it reads BATCH frames. */
  constructor (socket: Socket, mac: LinkMac, batching: boolean) {
    this.#socket = socket
    this.#mac = mac
    this.#batching = batching
  }

  /**
   * Queues one frame for the end of this turn. Returns false when the socket's buffer is above
   * its high-water mark (as `socket.write` does), so a producer can wait for `drain`.
   */
  send (type: number, id: number, body: Uint8Array): boolean {
    if (this.#socket.destroyed) return false
    if (body.length > MAX_BATCHED_BODY_BYTES) {
      this.#flush()
      return this.#socket.write(this.#mac.frame(type, id, body))
    }
    this.#queue.push({ type, id, body })
    this.#queuedBytes += LINK_HEADER_BYTES + body.length
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
      for (const f of queue) this.#socket.write(this.#mac.frame(f.type, f.id, f.body))
      this.#socket.uncork()
      return
    }
    const out = Buffer.allocUnsafe(LINK_HEADER_BYTES + bytes)
    writeLinkHeader(out, LinkType.Batch, queue.length, bytes)
    let off = LINK_HEADER_BYTES
    for (const f of queue) {
      const inner = out.subarray(off, off + LINK_HEADER_BYTES)
      writeLinkHeader(inner, f.type, f.id, f.body.length)
      inner.fill(0, 9)
      out.set(f.body, off + LINK_HEADER_BYTES)
      off += LINK_HEADER_BYTES + f.body.length
    }
    this.#socket.write(this.#mac.signInPlace(out))
  }
}
