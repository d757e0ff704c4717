/**
 * CBOR for IICP payloads: integer-keyed maps. Decoding accepts any key order and any
 * integer width, and rejects duplicate keys, tags, indefinite lengths, `undefined` and
 * trailing bytes. Encoding is canonical (RFC 8949 §4.2.1: shortest forms, keys sorted bytewise).
 */
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { ErrorCode, ToolkitError } from '../errors.ts'

const DECODE_OPTIONS = {
  useMaps: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowBigInt: false,
  strict: false,
  tags: []
} as const

/** Encodes a value canonically. Use `Map` with number keys for integer-keyed maps. */
export function encodeCbor (value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions)
}

/** Decodes one CBOR item; maps decode as `Map`. Throws ERR_CBOR_INVALID. */
export function decodeCbor (bytes: Uint8Array): unknown {
  try {
    return decode(bytes, DECODE_OPTIONS)
  } catch (err) {
    throw new ToolkitError(ErrorCode.CborInvalid, `invalid CBOR payload: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Decodes a frame payload that must be a CBOR map. A zero-length payload is an empty map
 * (upstream sends zero-length PINGs and CLOSEs). Throws ERR_CBOR_INVALID or ERR_PROTOCOL.
 */
export function decodePayloadMap (payload: Uint8Array): Map<unknown, unknown> {
  if (payload.length === 0) return new Map()
  const value = decodeCbor(payload)
  if (!(value instanceof Map)) throw new ToolkitError(ErrorCode.Protocol, 'frame payload is not a CBOR map')
  return value
}
