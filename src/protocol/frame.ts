/**
 * IICP native framing v1: a 12-byte header (magic `IICP`, version, type, flags, reserved,
 * payload length u32be) followed by the payload. One-shot and streaming decoders.
 */
import { ByteChunks } from '../byte-chunks.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../errors.ts'
import { FRAME_HEADER_BYTES, MAX_CONTROL_PAYLOAD_BYTES, MAX_FRAME_PAYLOAD_BYTES } from '../limits.ts'
import { DEFAULT_CBOR_LIMITS } from './cbor.ts'
import { scanCborItem } from './cbor-scan.ts'

/** The four magic bytes every frame starts with. */
export const FRAME_MAGIC: Buffer = Buffer.from('IICP', 'ascii')
/** The framing version this toolkit sends. */
export const FRAMING_VERSION = 1

/** Message type bytes as the upstream SDKs use them (0x0B/0x0C are the relay messages). */
export const MsgType = {
  Init: 0x01,
  Ack: 0x02,
  Discover: 0x03,
  SubProtocol: 0x04,
  Call: 0x05,
  Response: 0x06,
  Close: 0x07,
  Feedback: 0x08,
  Ping: 0x09,
  Pong: 0x0a,
  RelayBind: 0x0b,
  RelayAck: 0x0c
} as const

/** A message type byte. */
export type MsgType = typeof MsgType[keyof typeof MsgType]

/** How much of a large payload the relay-side decoder checks against the CBOR limits before buffering the rest. */
const VERDICT_PREFIX_BYTES = 64 * 1024

function undecodable (length: number, why: string): ToolkitError {
  return new ToolkitError(ErrorCode.CborInvalid, `a ${length}-byte payload that ${why} closes the connection (it is not read further)`, { details: { reason: 'undecodable_large_payload', length } })
}

/** True when the first bytes of a `payloadLength`-byte map already exceed the decode limits (not merely end early). */
function prefixBreaksLimits (prefix: Uint8Array, payloadLength: number): boolean {
  try {
    // Returns PREFIX_ENDED (the usual large frame) or, for a map shorter than it claims, an offset.
    scanCborItem(prefix, 0, DEFAULT_CBOR_LIMITS, payloadLength)
    return false
  } catch (err) {
    const reason = isToolkitError(err) ? err.details?.reason : undefined
    return reason !== undefined && reason !== 'truncated'
  }
}

/** Control frames: small by nature, so their payload has its own limit ({@link MAX_CONTROL_PAYLOAD_BYTES}). */
const CONTROL_TYPES: ReadonlySet<number> = new Set([MsgType.Init, MsgType.RelayBind, MsgType.Ping, MsgType.Close])

/** True for the control frame types (INIT, RELAY_BIND, PING, CLOSE). */
export function isControlFrameType (type: number): boolean {
  return CONTROL_TYPES.has(type)
}

/** A decoded frame. `payload` may be a view into the receive buffer. */
export interface Frame {
  /** Version byte as received (not validated, as upstream). */
  version: number
  /** Message type byte. */
  type: number
  /** Flags byte as received (ignored by the toolkit, as upstream). */
  flags: number
  /** Payload bytes (CBOR or empty); for a frame with {@link Frame.chunks}, joined on first read. */
  readonly payload: Buffer
  /** A large payload as the chunks it arrived in (see the decoder's `chunkedFrom`); absent otherwise. */
  readonly chunks?: ByteChunks
}

/** A frame whose payload stays in its chunks until `payload` is read. */
function chunkedFrame (version: number, type: number, flags: number, chunks: ByteChunks): Frame {
  return { version, type, flags, chunks, get payload () { return chunks.join() } }
}

/** Reasons a one-shot decode rejects a buffer (names as in native-framing-v1.json). */
export type FrameRejectReason = 'invalid_magic' | 'truncated_header' | 'truncated_payload' | 'frame_too_large'

/** Result of {@link decodeFrame}. */
export type FrameDecodeResult =
  | { outcome: 'accept', frame: Frame, consumed: number }
  | { outcome: 'reject', reason: FrameRejectReason }

const EMPTY = Buffer.alloc(0)
/** What an HTTP server answers first: a peer sending it instead of IICP magic dialled the wrong port. */
const HTTP_PREFIX = Buffer.from('HTTP/', 'latin1')

/** Writes a frame header for `payloadLength` bytes into `target` at `offset`. */
export function writeFrameHeader (target: Buffer, offset: number, type: number, payloadLength: number, flags = 0): void {
  FRAME_MAGIC.copy(target, offset)
  target[offset + 4] = FRAMING_VERSION
  target[offset + 5] = type
  target[offset + 6] = flags
  target[offset + 7] = 0
  target.writeUInt32BE(payloadLength, offset + 8)
}

/** Encodes one frame. An empty PING encodes to `494943500109000000000000`. */
export function encodeFrame (type: number, payload: Uint8Array = EMPTY, flags = 0): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new ToolkitError(ErrorCode.FrameTooLarge, `frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD_BYTES}`)
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  writeFrameHeader(out, 0, type, payload.length, flags)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

/** Decodes the first frame of a complete buffer, reporting rejections as the upstream fixture names them. */
export function decodeFrame (buf: Uint8Array, maxPayload = MAX_FRAME_PAYLOAD_BYTES): FrameDecodeResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const magicBytes = Math.min(4, b.length)
  if (!b.subarray(0, magicBytes).equals(FRAME_MAGIC.subarray(0, magicBytes))) return { outcome: 'reject', reason: 'invalid_magic' }
  if (b.length < FRAME_HEADER_BYTES) return { outcome: 'reject', reason: 'truncated_header' }
  const length = b.readUInt32BE(8)
  if (length > maxPayload) return { outcome: 'reject', reason: 'frame_too_large' }
  if (b.length < FRAME_HEADER_BYTES + length) return { outcome: 'reject', reason: 'truncated_payload' }
  return {
    outcome: 'accept',
    frame: { version: b[4] ?? 0, type: b[5] ?? 0, flags: b[6] ?? 0, payload: b.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length) },
    consumed: FRAME_HEADER_BYTES + length
  }
}

/**
 * Streaming frame decoder: feed it TCP chunks split at any byte boundary and it returns the
 * complete frames. A bad magic or an oversized length throws as soon as the header bytes
 * arrive, before any buffer of the announced size exists.
 */
export class FrameDecoder {
  readonly #maxPayload: number
  readonly #maxControlPayload: number
  #chunks: Buffer[] = []
  #size = 0
  #header: { version: number, type: number, flags: number, length: number } | undefined
  readonly #discardNonMap: boolean
  /** The first byte of a payload being discarded (not a CBOR map), and how many bytes of it are still to come. */
  #discardFirst: Buffer | undefined
  #discardLeft = 0
  /** The current frame's first {@link VERDICT_PREFIX_BYTES} have been checked against the decode limits. */
  #prefixChecked = false
  readonly #chunkedFrom: number

  /**
   * `maxControlPayload` bounds INIT, RELAY_BIND, PING and CLOSE (never above `maxPayload`).
   * With `discardNonMapPayloads` (the relay's side), a payload whose first byte is not a CBOR
   * map head is never buffered (no IICP message is anything else, so its parser would refuse it
   * at that byte anyway): up to 64 KiB it is dropped as it arrives and the frame is returned with
   * that one byte as its payload; a larger one, or one over 64 KiB whose first 64 KiB already
   * exceed the CBOR decode limits, throws ERR_CBOR_INVALID at once, so the connection closes
   * without reading the rest. A payload of `chunkedFrom` bytes or more is returned as the
   * received chunks ({@link Frame.chunks}), not copied into one buffer.
   */
  constructor (maxPayload = MAX_FRAME_PAYLOAD_BYTES, maxControlPayload = MAX_CONTROL_PAYLOAD_BYTES, discardNonMapPayloads = false, chunkedFrom = Number.POSITIVE_INFINITY) {
    this.#maxPayload = maxPayload
    this.#maxControlPayload = Math.min(maxControlPayload, maxPayload)
    this.#discardNonMap = discardNonMapPayloads
    this.#chunkedFrom = chunkedFrom
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes (): number {
    return this.#size
  }

  /** The payload length of the frame being received (its header is in), or 0 between frames and while discarding. */
  get partialFrameLength (): number {
    return this.#discardFirst === undefined ? this.#header?.length ?? 0 : 0
  }

  /** Adds a chunk and returns every frame it completes. Throws ERR_FRAME_MAGIC or ERR_FRAME_TOO_LARGE. */
  push (chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#size += chunk.length
    }
    const frames: Frame[] = []
    for (;;) {
      if (this.#header === undefined) {
        this.#checkMagicPrefix()
        if (this.#size < FRAME_HEADER_BYTES) break
        // Read in place when the header lies in the first chunk (the usual case), then dropped.
        const first = this.#chunks[0] as Buffer
        const h = first.length >= FRAME_HEADER_BYTES ? first : this.#peek(FRAME_HEADER_BYTES)
        const length = h.readUInt32BE(8)
        const type = h[5] ?? 0
        const limit = isControlFrameType(type) ? this.#maxControlPayload : this.#maxPayload
        if (length > limit) {
          throw new ToolkitError(ErrorCode.FrameTooLarge, `frame length ${length} exceeds the ${limit}-byte limit of type 0x${type.toString(16)}`, { details: { length, type, limit } })
        }
        this.#header = { version: h[4] ?? 0, type, flags: h[6] ?? 0, length }
        this.#skip(FRAME_HEADER_BYTES)
      }
      if (this.#discardFirst === undefined && this.#discardNonMap && this.#header.length > 0 && this.#size > 0) {
        if (!this.#firstByteIsMap()) {
          if (this.#header.length > VERDICT_PREFIX_BYTES) throw undecodable(this.#header.length, 'is not a CBOR map')
          this.#discardFirst = Buffer.from(this.#take(1))
          this.#discardLeft = this.#header.length - 1
        } else if (this.#header.length > VERDICT_PREFIX_BYTES && this.#size >= VERDICT_PREFIX_BYTES && !this.#prefixChecked) {
          // A large map whose first 64 KiB already break the decode limits is refused from them alone.
          this.#prefixChecked = true
          if (prefixBreaksLimits(this.#peek(VERDICT_PREFIX_BYTES), this.#header.length)) throw undecodable(this.#header.length, 'exceeds the CBOR limits in its first 64 KiB')
        }
      }
      if (this.#discardFirst !== undefined) {
        const drop = Math.min(this.#discardLeft, this.#size)
        this.#skip(drop)
        this.#discardLeft -= drop
        if (this.#discardLeft > 0) break
        frames.push({ version: this.#header.version, type: this.#header.type, flags: this.#header.flags, payload: this.#discardFirst })
        this.#header = undefined
        this.#discardFirst = undefined
        this.#prefixChecked = false
        continue
      }
      if (this.#size < this.#header.length) break
      const { version, type, flags, length } = this.#header
      this.#header = undefined
      this.#prefixChecked = false
      if (length >= this.#chunkedFrom) frames.push(chunkedFrame(version, type, flags, new ByteChunks(this.#takeParts(length))))
      else frames.push({ version, type, flags, payload: length === 0 ? EMPTY : this.#take(length) })
    }
    return frames
  }

  #checkMagicPrefix (): void {
    const first = this.#chunks[0]
    if (first === undefined) return
    const have = Math.min(4, this.#size)
    if (first.length >= have) {
      // The usual case, checked in place (no views made for every frame).
      let same = true
      for (let i = 0; i < have; i++) same &&= first[i] === FRAME_MAGIC[i]
      if (same) return
    }
    const prefix = first.length >= have ? first.subarray(0, have) : Buffer.concat(this.#chunks).subarray(0, have)
    if (!prefix.equals(FRAME_MAGIC.subarray(0, have))) {
      const http = prefix.equals(HTTP_PREFIX.subarray(0, have))
      throw new ToolkitError(ErrorCode.FrameMagic, http
        ? 'the peer answered in HTTP, not IICP framing: this is an HTTP server; the relay-accept port is usually 9485'
        : 'frame does not start with IICP magic', { details: { http } })
    }
  }

  /** The first `n` buffered bytes as one buffer (a view when they sit in one chunk). */
  #peek (n: number): Buffer {
    const first = this.#chunks[0] as Buffer
    if (first.length >= n) return first.subarray(0, n)
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    for (const c of this.#chunks) {
      if (filled >= n) break
      filled += c.copy(out, filled, 0, Math.min(c.length, n - filled))
    }
    return out
  }

  #firstByteIsMap (): boolean {
    return ((this.#chunks[0]?.[0] ?? 0) >> 5) === 5
  }

  /** Drops `n` buffered bytes without copying them. */
  #skip (n: number): void {
    const first = this.#chunks[0]
    if (first !== undefined && first.length > n) {
      // Within the first chunk (a frame header): no list of parts to build.
      this.#chunks[0] = first.subarray(n)
      this.#size -= n
    } else {
      this.#takeParts(n)
    }
  }

  /** The first `n` buffered bytes as views of the chunks they lie in (no copy). */
  #takeParts (n: number): Buffer[] {
    const parts: Buffer[] = []
    let left = n
    while (left > 0) {
      const c = this.#chunks[0] as Buffer
      if (c.length <= left) {
        parts.push(c)
        this.#chunks.shift()
        left -= c.length
      } else {
        parts.push(c.subarray(0, left))
        this.#chunks[0] = c.subarray(left)
        left = 0
      }
    }
    this.#size -= n
    return parts
  }

  /** The first `n` buffered bytes as one buffer: a view when they lie in one chunk, else a copy. */
  #take (n: number): Buffer {
    const first = this.#chunks[0]
    if (first !== undefined && first.length > n) {
      // The common case (a header, a small payload): no list to build.
      this.#chunks[0] = first.subarray(n)
      this.#size -= n
      return first.subarray(0, n)
    }
    const parts = this.#takeParts(n)
    return parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts, n)
  }
}
