/**
 * CBOR for IICP payloads: integer-keyed maps. Decoding accepts any key order and any
 * integer width, and rejects duplicate keys, tags, indefinite lengths, `undefined` and
 * trailing bytes. Encoding is canonical (RFC 8949 §4.2.1: shortest forms, keys sorted bytewise).
 * Every decode is bounded: a structural pre-scan ({@link scanCborItem}) refuses payloads past
 * {@link DEFAULT_CBOR_LIMITS} before cborg builds anything.
 */
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { ErrorCode, ToolkitError, isToolkitError } from '../errors.ts'
import {
  CBOR_BYTES_PER_CONTAINER, CBOR_BYTES_PER_ITEM, CBOR_CONTAINER_BASE, CBOR_ITEM_BASE, MAX_CBOR_DEPTH, MAX_CBOR_ITEMS,
  MAX_CBOR_SKIP_ITEMS, MAX_CONTROL_CBOR_ITEMS
} from '../limits.ts'
import { scanCborItem, type CborLimits } from './cbor-scan.ts'

export type { CborLimits } from './cbor-scan.ts'

/** The bounds every payload decode applies unless told otherwise. */
export const DEFAULT_CBOR_LIMITS: Readonly<CborLimits> = Object.freeze({
  maxItems: MAX_CBOR_ITEMS,
  itemBase: CBOR_ITEM_BASE,
  bytesPerItem: CBOR_BYTES_PER_ITEM,
  maxDepth: MAX_CBOR_DEPTH,
  containerBase: CBOR_CONTAINER_BASE,
  bytesPerContainer: CBOR_BYTES_PER_CONTAINER
})

/** Tighter bounds for control frames (RELAY_BIND, PING), which hold a few strings and a model list. */
export const CONTROL_CBOR_LIMITS: Readonly<CborLimits> = Object.freeze({
  ...DEFAULT_CBOR_LIMITS,
  maxItems: MAX_CONTROL_CBOR_ITEMS,
  itemBase: MAX_CONTROL_CBOR_ITEMS,
  maxDepth: 4
})

/** Bounds for skipping over items without building them (looking for a call id after a refusal). */
export const SKIP_CBOR_LIMITS: Readonly<CborLimits> = Object.freeze({
  maxItems: MAX_CBOR_SKIP_ITEMS,
  itemBase: MAX_CBOR_SKIP_ITEMS,
  bytesPerItem: 1,
  maxDepth: MAX_CBOR_DEPTH,
  containerBase: MAX_CBOR_SKIP_ITEMS,
  bytesPerContainer: 1
})

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

/** Decodes one CBOR item within `limits`; maps decode as `Map`. Throws ERR_CBOR_INVALID. */
export function decodeCbor (bytes: Uint8Array, limits: Readonly<CborLimits> = DEFAULT_CBOR_LIMITS): unknown {
  try {
    const end = scanCborItem(bytes, 0, limits)
    if (end !== bytes.length) {
      throw new ToolkitError(ErrorCode.CborInvalid, `invalid CBOR payload: ${bytes.length - end} trailing bytes`, { details: { reason: 'trailing', offset: end } })
    }
    return decode(bytes, DECODE_OPTIONS)
  } catch (err) {
    if (isToolkitError(err)) throw err
    throw new ToolkitError(ErrorCode.CborInvalid, `invalid CBOR payload: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Decodes a frame payload that must be a CBOR map. A zero-length payload is an empty map
 * (upstream sends zero-length PINGs and CLOSEs). Anything but a map is refused at its first
 * byte, before any decoding. Throws ERR_CBOR_INVALID or ERR_PROTOCOL.
 */
export function decodePayloadMap (payload: Uint8Array, limits: Readonly<CborLimits> = DEFAULT_CBOR_LIMITS): Map<unknown, unknown> {
  if (payload.length === 0) return new Map()
  if ((payload[0] as number) >> 5 !== 5) {
    throw new ToolkitError(ErrorCode.Protocol, 'frame payload is not a CBOR map', { details: { reason: 'not_a_map', offset: 0 } })
  }
  return decodeCbor(payload, limits) as Map<unknown, unknown>
}
