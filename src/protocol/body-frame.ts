/**
 * The hot CALL/RESPONSE shape `{5: bstr(body), 15: call_id}` written and read byte by byte:
 * one copy of the body on write (none for a body allocated with {@link allocBodyWithFrameRoom}
 * or held as chunks), none on read. Everything else goes through cborg (cbor.ts).
 */
import type { ByteChunks } from '../byte-chunks.ts'
import { FRAME_HEADER_BYTES } from '../limits.ts'
import { writeFrameHeader } from './frame.ts'
import { CallKey } from './keys.ts'

/** Writes a CBOR head (major type + length) into `out` at `offset`; returns the new offset. */
function writeCborHead (out: Buffer, offset: number, major: number, length: number): number {
  const m = major << 5
  if (length < 24) { out[offset] = m | length; return offset + 1 }
  if (length < 0x100) { out[offset] = m | 24; out[offset + 1] = length; return offset + 2 }
  if (length < 0x10000) { out[offset] = m | 25; out.writeUInt16BE(length, offset + 1); return offset + 3 }
  out[offset] = m | 26
  out.writeUInt32BE(length, offset + 1)
  return offset + 5
}

function cborHeadSize (length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

/** Bytes reserved after a body from {@link allocBodyWithFrameRoom}: key 15, a tstr head and a call id (a UUID is 36). */
const CALL_ID_ROOM = 64

/** Bodies with room for their frame around them; each is framed in place at most once. */
const FRAMEABLE = new WeakSet<Uint8Array>()

/**
 * Allocates a `length`-byte body (e.g. an HTTP request body read straight into it) inside a
 * buffer of its own with room before it for the frame header and CBOR heads and after it for
 * the call id, so that {@link encodeBodyFrame} can frame it in place, once, without copying a
 * byte of it. A large body then costs one allocation on its way from HTTP to the worker.
 */
export function allocBodyWithFrameRoom (length: number): Buffer {
  const before = FRAME_HEADER_BYTES + 2 + cborHeadSize(length)
  // A small body comes from Node's shared pool (its room is inside its own slice), a large one has its own memory.
  const body = Buffer.allocUnsafe(before + length + CALL_ID_ROOM).subarray(before, before + length)
  FRAMEABLE.add(body)
  return body
}

/** Frames a body from {@link allocBodyWithFrameRoom} in place; undefined when it has no (more) room. */
function frameInPlace (type: number, callId: string, body: Uint8Array): Buffer | undefined {
  const idBytes = Buffer.byteLength(callId, 'utf8')
  const after = 1 + cborHeadSize(idBytes) + idBytes
  if (after > CALL_ID_ROOM || !FRAMEABLE.delete(body)) return undefined
  const before = FRAME_HEADER_BYTES + 2 + cborHeadSize(body.length)
  const out = Buffer.from(body.buffer, body.byteOffset - before, before + body.length + after)
  writeFrameHeader(out, 0, type, out.length - FRAME_HEADER_BYTES)
  let o = FRAME_HEADER_BYTES
  out[o++] = 0xa2
  out[o++] = CallKey.Body
  o = writeCborHead(out, o, 2, body.length) + body.length
  out[o++] = CallKey.CallId
  o = writeCborHead(out, o, 3, idBytes)
  out.write(callId, o, 'utf8')
  return out
}

/**
 * Builds `{5: bstr(body), 15: call_id}` (canonical order) as one frame, with a single copy of
 * the body. Used for CALL (relay → worker) and RESPONSE (worker → relay) on the hot path. A
 * string body (JSON text) is encoded as UTF-8 straight into the frame, with no intermediate
 * Buffer.
 */
export function encodeBodyFrame (type: number, callId: string, body: Uint8Array | string): Buffer {
  const inPlace = typeof body === 'string' ? undefined : frameInPlace(type, callId, body)
  if (inPlace !== undefined) return inPlace
  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length
  const idBytes = Buffer.byteLength(callId, 'utf8')
  const payloadLength = 1 + 1 + cborHeadSize(bodyBytes) + bodyBytes + 1 + cborHeadSize(idBytes) + idBytes
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength)
  writeFrameHeader(out, 0, type, payloadLength)
  let o = FRAME_HEADER_BYTES
  out[o++] = 0xa2
  out[o++] = CallKey.Body
  o = writeCborHead(out, o, 2, bodyBytes)
  if (typeof body === 'string') out.write(body, o, bodyBytes, 'utf8')
  else out.set(body, o)
  o += bodyBytes
  out[o++] = CallKey.CallId
  o = writeCborHead(out, o, 3, idBytes)
  out.write(callId, o, 'utf8')
  return out
}

/** Reads a CBOR head of `major` at `o`: the item's length and where its content starts. */
function readCborHead (p: Uint8Array, o: number, major: number): { length: number, start: number } | undefined {
  const first = p[o]
  if (first === undefined || first >> 5 !== major) return undefined
  const info = first & 0x1f
  const view = Buffer.from(p.buffer, p.byteOffset, p.byteLength)
  if (info < 24) return { length: info, start: o + 1 }
  if (info === 24 && o + 2 <= p.length) return { length: view.readUInt8(o + 1), start: o + 2 }
  if (info === 25 && o + 3 <= p.length) return { length: view.readUInt16BE(o + 1), start: o + 3 }
  if (info === 26 && o + 5 <= p.length) return { length: view.readUInt32BE(o + 1), start: o + 5 }
  return undefined
}

/**
 * Fast path for the hot CALL/RESPONSE shape `{5: bstr, 15: tstr}` in either key order (any
 * integer width up to 32 bits): the body is returned as a view, without a copy. Anything else
 * (other keys, duplicates, a text body, trailing bytes) returns undefined and takes the
 * general strict decoder.
 */
export function readBodyAndCallId (p: Uint8Array): { callId: string, body: Buffer } | undefined {
  if (p[0] !== 0xa2) return undefined
  let o = 1
  let callId: string | undefined
  let body: Buffer | undefined
  for (let i = 0; i < 2; i++) {
    const key = p[o++]
    const head = readCborHead(p, o, key === CallKey.Body ? 2 : 3)
    if (head === undefined || head.start + head.length > p.length) return undefined
    const value = Buffer.from(p.buffer, p.byteOffset + head.start, head.length)
    if (key === CallKey.Body && body === undefined) body = value
    else if (key === CallKey.CallId && callId === undefined) callId = value.toString('utf8')
    else return undefined
    o = head.start + head.length
  }
  return o === p.length && callId !== undefined && body !== undefined ? { callId, body } : undefined
}

/**
 * Builds `{5: bstr(body), 15: call_id}` around a body held as chunks: the frame's parts, in
 * order (its head, the body's chunks as they are, the call id), for one corked write.
 */
export function encodeBodyFrameChunks (type: number, callId: string, body: ByteChunks): Buffer[] {
  const idBytes = Buffer.byteLength(callId, 'utf8')
  const payloadLength = 1 + 1 + cborHeadSize(body.length) + body.length + 1 + cborHeadSize(idBytes) + idBytes
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 2 + cborHeadSize(body.length))
  writeFrameHeader(head, 0, type, payloadLength)
  head[FRAME_HEADER_BYTES] = 0xa2
  head[FRAME_HEADER_BYTES + 1] = CallKey.Body
  writeCborHead(head, FRAME_HEADER_BYTES + 2, 2, body.length)
  const tail = Buffer.allocUnsafe(1 + cborHeadSize(idBytes) + idBytes)
  tail[0] = CallKey.CallId
  tail.write(callId, writeCborHead(tail, 1, 3, idBytes), 'utf8')
  return [head, ...body.parts, tail]
}

/** How many bytes at each end of a chunked payload hold the map head and the call id (a UUID needs 38). */
const EDGE_BYTES = 128

/**
 * {@link readBodyAndCallId} for a payload held as chunks: the body is returned as chunks
 * (views), never joined. Undefined for anything but `{5: bstr, 15: tstr}` (either order)
 * with a call id of at most about 100 bytes.
 */
export function readBodyAndCallIdChunks (p: ByteChunks): { callId: string, body: ByteChunks } | undefined {
  const head = p.slice(0, Math.min(p.length, EDGE_BYTES))
  if (head[0] !== 0xa2) return undefined
  if (head[1] === CallKey.Body) {
    const body = readCborHead(head, 2, 2)
    if (body === undefined) return undefined
    const end = body.start + body.length
    if (end > p.length || p.length - end > EDGE_BYTES) return undefined
    const tail = p.slice(end)
    const id = tail[0] === CallKey.CallId ? readCborHead(tail, 1, 3) : undefined
    if (id === undefined || id.start + id.length !== tail.length) return undefined
    return { callId: tail.toString('utf8', id.start, tail.length), body: p.range(body.start, end) }
  }
  if (head[1] === CallKey.CallId) {
    const id = readCborHead(head, 2, 3)
    if (id === undefined) return undefined
    const o = id.start + id.length
    const body = head[o] === CallKey.Body ? readCborHead(head, o + 1, 2) : undefined
    if (body === undefined || body.start + body.length !== p.length) return undefined
    return { callId: head.toString('utf8', id.start, o), body: p.range(body.start) }
  }
  return undefined
}
