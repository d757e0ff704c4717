/**
 * The wire of the internal relay-to-relay link: one TCP connection carries many calls at once.
 * A frame is `u32 length | u8 type | u32 id | 16-byte MAC | body` (length counts from `type`).
 *
 * Authentication (the fleet secret never crosses the wire): the owner opens with CHALLENGE
 * (a fresh 16-byte nonce), the caller answers AUTH (its id and nonce, MAC'd with the secret over
 * both), the owner proves the secret back with AUTH_OK. Both derive a per-connection key from
 * the two nonces; from then on every frame carries HMAC-SHA256(key, direction | sequence |
 * type | id | body) truncated to 16 bytes, with a per-direction sequence number, so a frame
 * cannot be forged, altered, replayed or reordered, and a recorded AUTH is useless on another
 * connection (its nonce differs). When both ends say so in the handshake (`batch` in AUTH and
 * AUTH_OK), the frames one side writes in one event-loop turn travel as one BATCH frame whose
 * body is those frames (with zero MACs) and whose MAC covers them all.
 */
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../../src/limits.ts'

/** Frame types. */
export const LinkType = {
  Challenge: 1,
  Auth: 2,
  AuthOk: 3,
  Call: 10,
  Cancel: 11,
  Result: 20,
  Error: 21,
  Event: 22,
  End: 23,
  /** Several frames of one event-loop turn under one MAC (link-sender.ts); `id` is their count. */
  Batch: 30
} as const

/** Bytes before the body. */
export const LINK_HEADER_BYTES = 4 + 1 + 4 + 16
/** Largest frame body: a worker answer (16 MiB) plus the call metadata. */
export const MAX_LINK_BODY_BYTES = MAX_FRAME_PAYLOAD_BYTES + 64 * 1024
const MAC_BYTES = 16
const ZERO_MAC = Buffer.alloc(MAC_BYTES)

/** One decoded frame. */
export interface LinkFrame {
  type: number
  id: number
  mac: Buffer
  body: Buffer
}

/** Encodes a frame with `mac` (zeros before authentication). */
export function encodeLinkFrame (type: number, id: number, body: Uint8Array, mac: Uint8Array = ZERO_MAC): Buffer {
  const out = Buffer.allocUnsafe(LINK_HEADER_BYTES + body.length)
  writeLinkHeader(out, type, id, body.length)
  out.set(mac.subarray(0, MAC_BYTES), 9)
  out.set(body, LINK_HEADER_BYTES)
  return out
}

/** Writes a frame header (without its MAC) for a body of `bodyLength` bytes at `out[at..at + 9)`. */
export function writeLinkHeader (out: Buffer, type: number, id: number, bodyLength: number, at = 0): void {
  out.writeUInt32BE(LINK_HEADER_BYTES - 4 + bodyLength, at)
  out[at + 4] = type
  out.writeUInt32BE(id, at + 5)
}

/**
 * The frames inside a BATCH body, or undefined when it is malformed: a length that overruns the
 * body, a count that differs from `count`, or a frame that may not be batched (handshake or BATCH).
 */
export function splitBatch (body: Buffer, count: number): LinkFrame[] | undefined {
  const frames: LinkFrame[] = []
  let off = 0
  while (off < body.length) {
    if (body.length - off < LINK_HEADER_BYTES) return undefined
    const len = body.readUInt32BE(off)
    if (len < LINK_HEADER_BYTES - 4 || off + 4 + len > body.length) return undefined
    const type = body[off + 4] ?? 0
    if (type < LinkType.Call || type === LinkType.Batch) return undefined
    frames.push({ type, id: body.readUInt32BE(off + 5), mac: ZERO_MAC, body: body.subarray(off + LINK_HEADER_BYTES, off + 4 + len) })
    off += 4 + len
  }
  return frames.length === count ? frames : undefined
}

/** Splits a byte stream into frames; throws ERR_FLEET_LINK on an oversized frame. */
export class LinkDecoder {
  #buf: Buffer = Buffer.alloc(0)

  push (chunk: Buffer): LinkFrame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const frames: LinkFrame[] = []
    let off = 0
    while (this.#buf.length - off >= 4) {
      const len = this.#buf.readUInt32BE(off)
      if (len < LINK_HEADER_BYTES - 4 || len - (LINK_HEADER_BYTES - 4) > MAX_LINK_BODY_BYTES) throw new ToolkitError(ErrorCode.FleetLink, `fleet link frame of ${len} bytes refused`)
      if (this.#buf.length - off < 4 + len) break
      const f = this.#buf.subarray(off, off + 4 + len)
      frames.push({ type: f[4] ?? 0, id: f.readUInt32BE(5), mac: f.subarray(9, LINK_HEADER_BYTES), body: f.subarray(LINK_HEADER_BYTES) })
      off += 4 + len
    }
    this.#buf = off === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(off)
    return frames
  }
}

function hmac (key: string | Buffer, ...parts: Array<string | Uint8Array>): Buffer {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return h.digest()
}

/** The MAC of AUTH: proves the caller knows the secret, bound to this connection's challenge. */
export function authMac (secret: string, fleetId: string, challenge: Uint8Array, body: Uint8Array): Buffer {
  return hmac(secret, `auth\n${fleetId}\n`, challenge, body).subarray(0, MAC_BYTES)
}

/** The MAC of AUTH_OK: proves the owner knows the secret. */
export function authOkMac (secret: string, fleetId: string, challenge: Uint8Array, callerNonce: Uint8Array): Buffer {
  return hmac(secret, `ok\n${fleetId}\n`, challenge, callerNonce).subarray(0, MAC_BYTES)
}

/** The AUTH_OK body of an owner that reads and writes BATCH frames. */
export const BATCH_OFFER = Buffer.from('{"batch":true}', 'utf8')

/** Whether an AUTH or AUTH_OK JSON body says its sender reads BATCH frames (older relays say nothing). */
export function offersBatching (body: Buffer): boolean {
  if (body.length === 0) return false
  try {
    return (JSON.parse(body.toString('utf8')) as { batch?: unknown }).batch === true
  } catch {
    return false
  }
}

/** Constant-time comparison of two MACs. */
export function macEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The per-connection frame authenticator: signs outgoing frames and checks incoming ones, each
 * direction with its own sequence number.
 */
export class LinkMac {
  /** SHA-256 states after the HMAC key's inner and outer pad: HMAC per frame is two hash copies. */
  readonly #inner: Hash
  readonly #outer: Hash
  readonly #sendDir: number
  #sendSeq = 0n
  #recvSeq = 0n
  /** direction | type | sequence (u64) | id (u32), reused for every MAC. */
  readonly #prefix = Buffer.allocUnsafe(14)

  /** `caller` is true on the calling relay's side. */
  constructor (secret: string, fleetId: string, challenge: Uint8Array, callerNonce: Uint8Array, caller: boolean) {
    const key = hmac(secret, `key\n${fleetId}\n`, challenge, callerNonce)
    const ipad = Buffer.alloc(64, 0x36)
    const opad = Buffer.alloc(64, 0x5c)
    for (let i = 0; i < key.length; i++) {
      ipad[i] = (ipad[i] ?? 0) ^ (key[i] ?? 0)
      opad[i] = (opad[i] ?? 0) ^ (key[i] ?? 0)
    }
    this.#inner = createHash('sha256').update(ipad)
    this.#outer = createHash('sha256').update(opad)
    this.#sendDir = caller ? 1 : 2
  }

  /** Encodes and signs one frame. */
  frame (type: number, id: number, body: Uint8Array): Buffer {
    const mac = this.#mac(this.#sendDir, this.#sendSeq++, type, id, body)
    return encodeLinkFrame(type, id, body, mac)
  }

  /** Signs a frame whose header and body are already in `out` (MAC at bytes 9..25), in place. */
  signInPlace (out: Buffer): Buffer {
    const body = out.subarray(LINK_HEADER_BYTES)
    this.#mac(this.#sendDir, this.#sendSeq++, out[4] ?? 0, out.readUInt32BE(5), body).copy(out, 9)
    return out
  }

  /** Checks one received frame (in order). */
  check (f: LinkFrame): boolean {
    return macEqual(f.mac, this.#mac(this.#sendDir === 1 ? 2 : 1, this.#recvSeq++, f.type, f.id, f.body))
  }

  /**
   * Checks one received frame and opens it: the frame itself, or the frames of a BATCH.
   * Undefined when the MAC is wrong or the batch malformed (the link must then be closed).
   */
  open (f: LinkFrame): LinkFrame[] | undefined {
    if (!this.check(f)) return undefined
    return f.type === LinkType.Batch ? splitBatch(f.body, f.id) : [f]
  }

  #mac (dir: number, seq: bigint, type: number, id: number, body: Uint8Array): Buffer {
    const b = this.#prefix
    b[0] = dir
    b[1] = type
    b.writeBigUInt64BE(seq, 2)
    b.writeUInt32BE(id, 10)
    // HMAC-SHA256 (RFC 2104) from the precomputed pads: createHmac per frame costs three times as much.
    const innerDigest = this.#inner.copy().update(b).update(body).digest()
    return this.#outer.copy().update(innerDigest).digest().subarray(0, MAC_BYTES)
  }
}

/** What a CALL carries besides the task bytes. */
export interface LinkMeta {
  /** Target worker id. */
  w: string
  /** `call` (buffered) or `stream`. */
  k: 'call' | 'stream'
  /** The call's deadline in ms (for streams: per event). */
  to: number
  /** Stream session id (stream CALL key 2). */
  s?: string
  /** Stream task id (stream CALL key 24). */
  ti?: string
}

/**
 * The head of a CALL body (`u16 meta length | meta JSON`); the task bytes follow it. It is sent
 * apart from the task (LinkSender joins them into the frame), so the task is copied only once.
 */
export function encodeCallHead (meta: LinkMeta): Buffer {
  const json = JSON.stringify(meta)
  const n = Buffer.byteLength(json, 'utf8')
  const out = Buffer.allocUnsafe(2 + n)
  out.writeUInt16BE(n, 0)
  out.write(json, 2, 'utf8')
  return out
}

/** Parses a CALL body (head and task); undefined when malformed. */
export function decodeCallBody (body: Buffer): { meta: LinkMeta, task: Buffer } | undefined {
  if (body.length < 2) return undefined
  const n = body.readUInt16BE(0)
  if (body.length < 2 + n) return undefined
  try {
    const m = JSON.parse(body.subarray(2, 2 + n).toString('utf8')) as Partial<LinkMeta>
    if (typeof m.w !== 'string' || m.w === '' || (m.k !== 'call' && m.k !== 'stream') || typeof m.to !== 'number' || !Number.isSafeInteger(m.to) || m.to < 1) return undefined
    const meta: LinkMeta = { w: m.w, k: m.k, to: m.to }
    if (typeof m.s === 'string') meta.s = m.s
    if (typeof m.ti === 'string') meta.ti = m.ti
    return { meta, task: body.subarray(2 + n) }
  } catch {
    return undefined
  }
}
