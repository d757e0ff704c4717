/**
 * STUN attribute types and their value codecs (RFC 5389/8489, RFC 5780, legacy RFC 3489 address
 * attributes for decoding). Every decoder validates lengths and throws `ERR_STUN_INVALID`.
 */
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { sameIp } from '../net/addr.ts'

/** The STUN magic cookie (RFC 5389 §6). */
export const MAGIC_COOKIE = 0x2112a442

/** Attribute type numbers used by this module (IANA "STUN Attributes" registry). */
export const AttributeType = {
  /** RFC 5389 §15.1. */
  MappedAddress: 0x0001,
  /** RFC 5780 §7.2: request flags to answer from the alternate IP and/or port. */
  ChangeRequest: 0x0003,
  /** RFC 3489 (legacy, decoded only): the address the response was sent from. */
  SourceAddress: 0x0004,
  /** RFC 3489 (legacy, decoded only): the server's alternate address. */
  ChangedAddress: 0x0005,
  /** RFC 5389 §15.3. */
  Username: 0x0006,
  /** RFC 5389 §15.4: HMAC-SHA1 over the message. */
  MessageIntegrity: 0x0008,
  /** RFC 5389 §15.6. */
  ErrorCode: 0x0009,
  /** RFC 5389 §15.9. */
  UnknownAttributes: 0x000a,
  /** RFC 5389 §15.7 (long-term credentials; recognised, not used). */
  Realm: 0x0014,
  /** RFC 5389 §15.8 (long-term credentials; recognised, not used). */
  Nonce: 0x0015,
  /** RFC 8489 §14.6: HMAC-SHA256 over the message, possibly truncated to 16..32 bytes. */
  MessageIntegritySha256: 0x001c,
  /** RFC 5389 §15.2. */
  XorMappedAddress: 0x0020,
  /** RFC 5780 §7.6. */
  Padding: 0x0026,
  /** RFC 5780 §7.5: the port the server must send the response to. */
  ResponsePort: 0x0027,
  /** RFC 5389 §15.10. */
  Software: 0x8022,
  /** RFC 5389 §15.11. */
  AlternateServer: 0x8023,
  /** RFC 5389 §15.5: CRC-32 of the message XOR 0x5354554e. */
  Fingerprint: 0x8028,
  /** RFC 5780 §7.3: the address the response was sent from. */
  ResponseOrigin: 0x802b,
  /** RFC 5780 §7.4: the server's alternate address (differs in IP and port). */
  OtherAddress: 0x802c
} as const

/** One STUN attribute: its type and its value without padding. */
export interface StunAttribute {
  /** Attribute type number (see {@link AttributeType}). */
  readonly type: number
  /** Attribute value, unpadded. */
  readonly value: Buffer
}

/** An IP address (literal) and a port. */
export interface TransportAddress {
  /** IPv4 or IPv6 literal, without brackets or zone. */
  address: string
  /** UDP port, 0..65535. */
  port: number
}

/** A decoded address attribute: family plus address and port. */
export interface StunAddress extends TransportAddress {
  /** Address family. */
  family: 4 | 6
}

/** CHANGE-REQUEST flags (RFC 5780 §7.2). */
export interface ChangeRequest {
  /** Answer from the alternate IP address. */
  changeIp: boolean
  /** Answer from the alternate port. */
  changePort: boolean
}

/** A decoded ERROR-CODE attribute. */
export interface StunErrorCode {
  /** 300..699. */
  code: number
  /** UTF-8 reason phrase. */
  reason: string
}

/** True when the attribute must be understood by the receiver (RFC 5389 §15: types below 0x8000). */
export function isComprehensionRequired (type: number): boolean {
  return type < 0x8000
}

/** Renders an address as `ip:port`, or `[ip]:port` for IPv6. */
export function formatAddress (addr: TransportAddress): string {
  return formatHostPort(addr.address, addr.port)
}

/** True when both transport addresses name the same IP (after canonicalisation) and port. */
export function sameTransportAddress (a: TransportAddress, b: TransportAddress): boolean {
  return a.port === b.port && sameIp(a.address, b.address)
}

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.StunInvalid, message)
}

function checkPort (port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw invalid(`port out of range: ${port}`)
}

/** IP literal (zone stripped) to 4 or 16 bytes; throws ERR_STUN_INVALID on anything else. */
function ipToBytes (address: string): Buffer {
  const bare = address.split('%')[0] ?? ''
  const family = isIP(bare)
  if (family === 4) return Buffer.from(bare.split('.').map(Number))
  if (family === 6) return Buffer.from(ipaddr.IPv6.parse(bare).toByteArray())
  throw invalid(`not an IP literal: ${address}`)
}

function bytesToIp (bytes: Buffer): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
  return ipaddr.fromByteArray([...bytes]).toString()
}

function encodeAddressBytes (addr: TransportAddress, ip: Buffer): Buffer {
  checkPort(addr.port)
  const out = Buffer.alloc(4 + ip.length)
  out[1] = ip.length === 4 ? 0x01 : 0x02
  out.writeUInt16BE(addr.port, 2)
  ip.copy(out, 4)
  return out
}

function decodeAddressBytes (value: Buffer, name: string): { family: 4 | 6, port: number, ip: Buffer } {
  if (value.length < 4) throw invalid(`${name}: value too short (${value.length} bytes)`)
  const familyByte = value[1]
  const family = familyByte === 0x01 ? 4 : familyByte === 0x02 ? 6 : undefined
  if (family === undefined) throw invalid(`${name}: unknown address family 0x${(familyByte ?? 0).toString(16)}`)
  const want = family === 4 ? 8 : 20
  if (value.length !== want) throw invalid(`${name}: IPv${family} value must be ${want} bytes, got ${value.length}`)
  return { family, port: value.readUInt16BE(2), ip: Buffer.from(value.subarray(4)) }
}

/** Encodes a plain address value (MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, ...). */
export function encodeAddress (addr: TransportAddress): Buffer {
  return encodeAddressBytes(addr, ipToBytes(addr.address))
}

/** Decodes a plain address value; `name` is used in error messages. */
export function decodeAddress (value: Buffer, name = 'address attribute'): StunAddress {
  const { family, port, ip } = decodeAddressBytes(value, name)
  return { family, address: bytesToIp(ip), port }
}

function xorMask (transactionId: Buffer, length: number): Buffer {
  const mask = Buffer.alloc(16)
  mask.writeUInt32BE(MAGIC_COOKIE, 0)
  transactionId.copy(mask, 4)
  return mask.subarray(0, length)
}

function xorBytes (ip: Buffer, mask: Buffer): Buffer {
  return Buffer.from(ip.map((b, i) => b ^ (mask[i] ?? 0)))
}

/** Encodes an XOR-MAPPED-ADDRESS value (RFC 5389 §15.2) for the given 12-byte transaction id. */
export function encodeXorAddress (addr: TransportAddress, transactionId: Buffer): Buffer {
  const ip = ipToBytes(addr.address)
  checkPort(addr.port)
  const xored = { address: addr.address, port: addr.port ^ (MAGIC_COOKIE >>> 16) }
  return encodeAddressBytes(xored, xorBytes(ip, xorMask(transactionId, ip.length)))
}

/** Decodes an XOR-MAPPED-ADDRESS value for the given 12-byte transaction id. */
export function decodeXorAddress (value: Buffer, transactionId: Buffer, name = 'XOR-MAPPED-ADDRESS'): StunAddress {
  const { family, port, ip } = decodeAddressBytes(value, name)
  return { family, address: bytesToIp(xorBytes(ip, xorMask(transactionId, ip.length))), port: port ^ (MAGIC_COOKIE >>> 16) }
}

/** Encodes a CHANGE-REQUEST value. */
export function encodeChangeRequest (flags: ChangeRequest): Buffer {
  const out = Buffer.alloc(4)
  out[3] = (flags.changeIp ? 0x04 : 0) | (flags.changePort ? 0x02 : 0)
  return out
}

/** Decodes a CHANGE-REQUEST value (exactly 4 bytes). */
export function decodeChangeRequest (value: Buffer): ChangeRequest {
  if (value.length !== 4) throw invalid(`CHANGE-REQUEST must be 4 bytes, got ${value.length}`)
  const flags = value.readUInt32BE(0)
  return { changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 }
}

/** Encodes a RESPONSE-PORT value. */
export function encodeResponsePort (port: number): Buffer {
  checkPort(port)
  const out = Buffer.alloc(4)
  out.writeUInt16BE(port, 0)
  return out
}

/** Decodes a RESPONSE-PORT value (exactly 4 bytes: port and 2 reserved bytes). */
export function decodeResponsePort (value: Buffer): number {
  if (value.length !== 4) throw invalid(`RESPONSE-PORT must be 4 bytes, got ${value.length}`)
  return value.readUInt16BE(0)
}

/** Encodes an ERROR-CODE value (RFC 5389 §15.6). */
export function encodeErrorCode (error: StunErrorCode): Buffer {
  if (!Number.isInteger(error.code) || error.code < 300 || error.code > 699) throw invalid(`error code out of range: ${error.code}`)
  const reason = Buffer.from(error.reason, 'utf8').subarray(0, 763)
  const out = Buffer.alloc(4 + reason.length)
  out[2] = Math.floor(error.code / 100)
  out[3] = error.code % 100
  reason.copy(out, 4)
  return out
}

/** Decodes an ERROR-CODE value. */
export function decodeErrorCode (value: Buffer): StunErrorCode {
  if (value.length < 4) throw invalid(`ERROR-CODE too short (${value.length} bytes)`)
  const cls = (value[2] ?? 0) & 0x07
  const number = value[3] ?? 0
  if (cls < 3 || cls > 6 || number > 99) throw invalid(`ERROR-CODE out of range: class ${cls}, number ${number}`)
  return { code: cls * 100 + number, reason: value.subarray(4).toString('utf8') }
}

/** Encodes an UNKNOWN-ATTRIBUTES value (a list of 16-bit types). */
export function encodeUnknownAttributes (types: readonly number[]): Buffer {
  const out = Buffer.alloc(types.length * 2)
  types.forEach((t, i) => { out.writeUInt16BE(t, i * 2) })
  return out
}

/** Decodes an UNKNOWN-ATTRIBUTES value. */
export function decodeUnknownAttributes (value: Buffer): number[] {
  if (value.length % 2 !== 0) throw invalid(`UNKNOWN-ATTRIBUTES length must be even, got ${value.length}`)
  const out: number[] = []
  for (let i = 0; i < value.length; i += 2) out.push(value.readUInt16BE(i))
  return out
}

/** Largest SOFTWARE value in bytes (RFC 5389 §15.10: fewer than 128 characters, at most 763 bytes). */
export const MAX_SOFTWARE_BYTES = 763
/** Largest USERNAME value in bytes (RFC 5389 §15.3: less than 513 bytes). */
export const MAX_USERNAME_BYTES = 512

/** Encodes a UTF-8 text value (SOFTWARE, USERNAME), rejecting values over `maxBytes`. */
export function encodeText (text: string, maxBytes: number, name = 'text attribute'): Buffer {
  const out = Buffer.from(text, 'utf8')
  if (out.length > maxBytes) throw invalid(`${name} longer than ${maxBytes} bytes`)
  return out
}

/** Decodes a UTF-8 text value, rejecting values over `maxBytes`. */
export function decodeText (value: Buffer, maxBytes: number, name = 'text attribute'): string {
  if (value.length > maxBytes) throw invalid(`${name} longer than ${maxBytes} bytes`)
  return value.toString('utf8')
}
