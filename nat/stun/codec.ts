/**
 * STUN message codec (RFC 5389/8489): header, attribute list, MESSAGE-INTEGRITY (HMAC-SHA1),
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT. Parsing is strict and throws `ERR_STUN_INVALID`;
 * encoding appends FINGERPRINT by default.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { AttributeType, MAGIC_COOKIE, type StunAttribute } from './attributes.ts'

/** Size of the STUN header in bytes. */
export const HEADER_BYTES = 20
/** Size of a transaction id in bytes (96 bits). */
export const TRANSACTION_ID_BYTES = 12
/** XOR constant of the FINGERPRINT attribute ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e
/** Most attributes a message may carry before it is rejected (bounds the work per datagram). */
export const MAX_ATTRIBUTES = 64

/** The four STUN message classes. */
export type StunClass = 'request' | 'indication' | 'success' | 'error'

/** STUN methods used by this module. */
export const StunMethod = {
  /** RFC 5389 §18.1. */
  Binding: 0x001
} as const

/** Integrity algorithms: HMAC-SHA1 (MESSAGE-INTEGRITY) or HMAC-SHA256 (MESSAGE-INTEGRITY-SHA256). */
export type IntegrityAlgorithm = 'sha1' | 'sha256'

/** A STUN message to encode. */
export interface StunMessageInit {
  /** 12-bit method. @default StunMethod.Binding */
  method?: number
  /** Message class. */
  class: StunClass
  /** 12-byte transaction id; see {@link newTransactionId}. */
  transactionId: Buffer
  /** Attributes in order, without MESSAGE-INTEGRITY* and FINGERPRINT (use the encode options). */
  attributes?: readonly StunAttribute[]
}

/** Options for {@link encodeMessage}. */
export interface EncodeOptions {
  /**
   * Short-term credential: the key is the password (already OpaqueString-prepared by the caller;
   * it is used as UTF-8 bytes). `algorithms` lists which integrity attributes to add, in order.
   */
  integrity?: { key: Buffer | string, algorithms?: readonly IntegrityAlgorithm[] }
  /** Append FINGERPRINT. @default true */
  fingerprint?: boolean
}

/** A parsed STUN message. `attributes` excludes those the RFC says to ignore after MESSAGE-INTEGRITY. */
export interface DecodedStunMessage {
  /** 12-bit method. */
  readonly method: number
  /** Message class. */
  readonly class: StunClass
  /** 12-byte transaction id. */
  readonly transactionId: Buffer
  /** Attributes in wire order (MESSAGE-INTEGRITY*, FINGERPRINT included). */
  readonly attributes: readonly StunAttribute[]
  /** The whole datagram. */
  readonly raw: Buffer
  /** Byte offset of the MESSAGE-INTEGRITY attribute header, if present. */
  readonly integrityOffset: number | undefined
  /** Byte offset of the MESSAGE-INTEGRITY-SHA256 attribute header, if present. */
  readonly integritySha256Offset: number | undefined
  /** True when a (valid) FINGERPRINT was present. */
  readonly hasFingerprint: boolean
}

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.StunInvalid, message)
}

const CLASSES: readonly StunClass[] = ['request', 'indication', 'success', 'error']

/** Builds the 14-bit message type from a method and a class (RFC 5389 §6, Figure 3). */
export function messageType (method: number, cls: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) throw invalid(`method out of range: ${method}`)
  const c = CLASSES.indexOf(cls)
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

/** Splits a 14-bit message type into method and class. */
export function splitMessageType (type: number): { method: number, class: StunClass } {
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80)
  const c = ((type >> 4) & 1) | ((type >> 7) & 2)
  return { method, class: CLASSES[c] ?? 'request' }
}

/** A fresh random 96-bit transaction id. */
export function newTransactionId (): Buffer {
  return randomBytes(TRANSACTION_ID_BYTES)
}

/**
 * Cheap demultiplexing test (RFC 5389 §7.3): top two bits zero, magic cookie, length a multiple
 * of 4 that matches the datagram. Says nothing about the attributes.
 */
export function looksLikeStun (buf: Buffer): boolean {
  return buf.length >= HEADER_BYTES && ((buf[0] ?? 0) & 0xc0) === 0 &&
    buf.readUInt32BE(4) === MAGIC_COOKIE && buf.readUInt16BE(2) % 4 === 0 &&
    buf.readUInt16BE(2) + HEADER_BYTES === buf.length
}

function padded (length: number): number {
  return (length + 3) & ~3
}

/** Serialises header and attributes (values padded with zeros); the length field covers them. */
function encodeBody (msg: StunMessageInit): Buffer {
  if (msg.transactionId.length !== TRANSACTION_ID_BYTES) throw invalid(`transaction id must be ${TRANSACTION_ID_BYTES} bytes`)
  const attributes = msg.attributes ?? []
  if (attributes.length > MAX_ATTRIBUTES) throw invalid(`more than ${MAX_ATTRIBUTES} attributes`)
  const bodyLength = attributes.reduce((n, a) => n + 4 + padded(a.value.length), 0)
  if (bodyLength > 0xffff - 64) throw invalid(`message too long (${bodyLength} bytes of attributes)`)
  const out = Buffer.alloc(HEADER_BYTES + bodyLength)
  out.writeUInt16BE(messageType(msg.method ?? StunMethod.Binding, msg.class), 0)
  out.writeUInt16BE(bodyLength, 2)
  out.writeUInt32BE(MAGIC_COOKIE, 4)
  msg.transactionId.copy(out, 8)
  let offset = HEADER_BYTES
  for (const attr of attributes) {
    if (!Number.isInteger(attr.type) || attr.type < 0 || attr.type > 0xffff) throw invalid(`attribute type out of range: ${attr.type}`)
    if (attr.value.length > 0xffff) throw invalid(`attribute 0x${attr.type.toString(16)} value too long`)
    out.writeUInt16BE(attr.type, offset)
    out.writeUInt16BE(attr.value.length, offset + 2)
    attr.value.copy(out, offset + 4)
    offset += 4 + padded(attr.value.length)
  }
  return out
}

function hmac (algorithm: IntegrityAlgorithm, key: Buffer | string, data: Buffer): Buffer {
  return createHmac(algorithm, typeof key === 'string' ? Buffer.from(key, 'utf8') : key).update(data).digest()
}

/**
 * Appends MESSAGE-INTEGRITY (sha1) or MESSAGE-INTEGRITY-SHA256 (full 32 bytes) to an encoded
 * message whose length field covers all its bytes, and returns the longer message.
 */
export function appendMessageIntegrity (message: Buffer, key: Buffer | string, algorithm: IntegrityAlgorithm = 'sha1'): Buffer {
  const size = algorithm === 'sha1' ? 20 : 32
  const type = algorithm === 'sha1' ? AttributeType.MessageIntegrity : AttributeType.MessageIntegritySha256
  const out = Buffer.alloc(message.length + 4 + size)
  message.copy(out)
  out.writeUInt16BE(out.length - HEADER_BYTES, 2)
  const mac = hmac(algorithm, key, out.subarray(0, message.length))
  out.writeUInt16BE(type, message.length)
  out.writeUInt16BE(size, message.length + 2)
  mac.copy(out, message.length + 4)
  return out
}

function fingerprintOf (prefix: Buffer): number {
  return (crc32(prefix) ^ FINGERPRINT_XOR) >>> 0
}

/** Appends FINGERPRINT to an encoded message and returns the longer message. */
export function appendFingerprint (message: Buffer): Buffer {
  const out = Buffer.alloc(message.length + 8)
  message.copy(out)
  out.writeUInt16BE(out.length - HEADER_BYTES, 2)
  out.writeUInt16BE(AttributeType.Fingerprint, message.length)
  out.writeUInt16BE(4, message.length + 2)
  out.writeUInt32BE(fingerprintOf(out.subarray(0, message.length)), message.length + 4)
  return out
}

/** Encodes a message, then appends the requested integrity attributes and FINGERPRINT. */
export function encodeMessage (msg: StunMessageInit, options: EncodeOptions = {}): Buffer {
  let out = encodeBody(msg)
  if (options.integrity !== undefined) {
    for (const algorithm of options.integrity.algorithms ?? ['sha1']) {
      out = appendMessageIntegrity(out, options.integrity.key, algorithm)
    }
  }
  return options.fingerprint === false ? out : appendFingerprint(out)
}

/**
 * Parses one datagram as a STUN message, strictly: header bits, magic cookie, a length that is a
 * multiple of 4 and equals the datagram, every attribute and its padding inside the message, at
 * most {@link MAX_ATTRIBUTES} attributes, integrity attribute sizes, and FINGERPRINT last and
 * correct when present. Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT are dropped (RFC 5389 §15.4, RFC 8489 §14.6). Throws `ERR_STUN_INVALID`.
 */
export function decodeMessage (buf: Buffer): DecodedStunMessage {
  if (buf.length < HEADER_BYTES) throw invalid(`datagram shorter than a STUN header (${buf.length} bytes)`)
  const type = buf.readUInt16BE(0)
  if ((type & 0xc000) !== 0) throw invalid('top two bits of the message type are not zero')
  const length = buf.readUInt16BE(2)
  if (length % 4 !== 0) throw invalid(`message length ${length} is not a multiple of 4`)
  if (length + HEADER_BYTES !== buf.length) throw invalid(`message length ${length} does not match the datagram (${buf.length - HEADER_BYTES} bytes after the header)`)
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw invalid('wrong magic cookie')
  const { method, class: cls } = splitMessageType(type)

  const attributes: StunAttribute[] = []
  let integrityOffset: number | undefined
  let integritySha256Offset: number | undefined
  let hasFingerprint = false
  let offset = HEADER_BYTES
  let count = 0
  while (offset < buf.length) {
    if (hasFingerprint) throw invalid('FINGERPRINT is not the last attribute')
    if (++count > MAX_ATTRIBUTES) throw invalid(`more than ${MAX_ATTRIBUTES} attributes`)
    if (offset + 4 > buf.length) throw invalid('truncated attribute header')
    const attrType = buf.readUInt16BE(offset)
    const attrLength = buf.readUInt16BE(offset + 2)
    const end = offset + 4 + attrLength
    if (offset + 4 + padded(attrLength) > buf.length) throw invalid(`attribute 0x${attrType.toString(16)} (${attrLength} bytes) runs past the message`)
    const value = buf.subarray(offset + 4, end)
    if (attrType === AttributeType.Fingerprint) {
      if (attrLength !== 4) throw invalid(`FINGERPRINT must be 4 bytes, got ${attrLength}`)
      if (end !== buf.length) throw invalid('FINGERPRINT is not the last attribute')
      if (value.readUInt32BE(0) !== fingerprintOf(buf.subarray(0, offset))) throw invalid('FINGERPRINT mismatch')
      hasFingerprint = true
      attributes.push({ type: attrType, value })
    } else if (attrType === AttributeType.MessageIntegrity && integrityOffset === undefined && integritySha256Offset === undefined) {
      if (attrLength !== 20) throw invalid(`MESSAGE-INTEGRITY must be 20 bytes, got ${attrLength}`)
      integrityOffset = offset
      attributes.push({ type: attrType, value })
    } else if (attrType === AttributeType.MessageIntegritySha256 && integritySha256Offset === undefined) {
      if (attrLength < 16 || attrLength > 32 || attrLength % 4 !== 0) throw invalid(`MESSAGE-INTEGRITY-SHA256 length ${attrLength} is not 16..32 and a multiple of 4`)
      integritySha256Offset = offset
      attributes.push({ type: attrType, value })
    } else if (integrityOffset === undefined && integritySha256Offset === undefined) {
      attributes.push({ type: attrType, value })
    }
    offset += 4 + padded(attrLength)
  }
  return {
    method,
    class: cls,
    transactionId: Buffer.from(buf.subarray(8, 20)),
    attributes,
    raw: buf,
    integrityOffset,
    integritySha256Offset,
    hasFingerprint
  }
}

/** The value of the first attribute of `type`, or undefined. */
export function getAttribute (msg: Pick<DecodedStunMessage, 'attributes'>, type: number): Buffer | undefined {
  return msg.attributes.find(a => a.type === type)?.value
}

function checkIntegrityAt (msg: DecodedStunMessage, offset: number, algorithm: IntegrityAlgorithm, key: Buffer | string): boolean {
  const size = msg.raw.readUInt16BE(offset + 2)
  const covered = Buffer.from(msg.raw.subarray(0, offset))
  covered.writeUInt16BE(offset + 4 + size - HEADER_BYTES, 2)
  const expected = hmac(algorithm, key, covered).subarray(0, size)
  return timingSafeEqual(expected, msg.raw.subarray(offset + 4, offset + 4 + size))
}

/**
 * Checks the message's short-term-credential integrity with `key` (the password bytes).
 * Returns 'absent' when the message carries no integrity attribute, 'valid' when every integrity
 * attribute present (SHA1 and/or SHA256) verifies, else 'invalid'.
 */
export function verifyMessageIntegrity (msg: DecodedStunMessage, key: Buffer | string): 'valid' | 'invalid' | 'absent' {
  if (msg.integrityOffset === undefined && msg.integritySha256Offset === undefined) return 'absent'
  if (msg.integrityOffset !== undefined && !checkIntegrityAt(msg, msg.integrityOffset, 'sha1', key)) return 'invalid'
  if (msg.integritySha256Offset !== undefined && !checkIntegrityAt(msg, msg.integritySha256Offset, 'sha256', key)) return 'invalid'
  return 'valid'
}
