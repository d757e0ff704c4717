/**
 * A byte sequence kept as the chunks it arrived in (socket reads), never joined unless asked:
 * a large task or answer crosses the relay this way, from one socket's reads to another
 * socket's writes, without being copied into one buffer.
 */

/** Bytes held as a list of chunks (views into the buffers they arrived in). */
export class ByteChunks {
  /** The chunks, in order; none is empty. */
  readonly parts: readonly Buffer[]
  /** Total bytes. */
  readonly length: number
  #joined: Buffer | undefined

  constructor (parts: readonly Buffer[]) {
    const kept = parts.filter(p => p.length > 0)
    this.parts = kept
    let length = 0
    for (const p of kept) length += p.length
    this.length = length
  }

  /** The bytes `[start, end)` as chunks (views, no copy). */
  range (start: number, end: number = this.length): ByteChunks {
    const out: Buffer[] = []
    let at = 0
    for (const p of this.parts) {
      const from = Math.max(start - at, 0)
      const to = Math.min(end - at, p.length)
      if (from < to) out.push(from === 0 && to === p.length ? p : p.subarray(from, to))
      at += p.length
      if (at >= end) break
    }
    return new ByteChunks(out)
  }

  /** The bytes `[start, end)` as one buffer: a view when they lie in one chunk, else a copy (for small ranges). */
  slice (start: number, end: number = this.length): Buffer {
    const r = this.range(start, end)
    if (r.parts.length === 1) return r.parts[0] as Buffer
    return Buffer.concat(r.parts, r.length)
  }

  /** All bytes as one buffer (one copy, made once, unless there is a single chunk). */
  join (): Buffer {
    const only = this.parts.length === 1 ? this.parts[0] : undefined
    this.#joined ??= only ?? Buffer.concat(this.parts, this.length)
    return this.#joined
  }
}

/** A body: one buffer, or (large ones) the chunks it arrived in. */
export type Bytes = Uint8Array | ByteChunks

/** A body as one buffer (joins chunks: a copy). */
export function joinBytes (b: Bytes): Buffer {
  if (b instanceof ByteChunks) return b.join()
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}
