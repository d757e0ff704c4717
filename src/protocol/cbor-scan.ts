/**
 * A structural pre-scan of CBOR bytes that builds nothing: it walks item heads only, so its
 * cost is one pass over at most `maxItems` heads (strings and byte strings are skipped by
 * length), and it stops at the first item past a limit. The decoder runs it before cborg, so
 * a payload can never make the relay build more than a bounded number of objects.
 */
import { ErrorCode, ToolkitError } from '../errors.ts'

/** Bounds on one CBOR payload. */
export interface CborLimits {
  /** Most data items in the payload (every map, array, key, value, string and number counts), whatever its size. */
  maxItems: number
  /** Items allowed in any payload; larger payloads earn one more per `bytesPerItem` bytes, up to `maxItems`. */
  itemBase: number
  /** Payload bytes that earn one more item beyond `itemBase`. */
  bytesPerItem: number
  /** Deepest nesting of maps and arrays (the top-level item is depth 1). */
  maxDepth: number
  /** Most maps and arrays: a fixed base plus one per `bytesPerContainer` payload bytes. */
  containerBase: number
  /** Payload bytes that earn one more map or array beyond `containerBase`. */
  bytesPerContainer: number
}

/** Why a scan refused the bytes (in `details.reason` of the ERR_CBOR_INVALID it throws). */
export type CborScanFailure = 'too_many_items' | 'too_deep' | 'too_many_containers' | 'truncated' | 'tag' | 'indefinite' | 'reserved'

function refuse (reason: CborScanFailure, offset: number, message: string): ToolkitError {
  return new ToolkitError(ErrorCode.CborInvalid, `invalid CBOR payload: ${message} at byte ${offset}`, { details: { reason, offset } })
}

/** Offset just past the head that {@link readArgument} last read (a module slot, not a tuple: no allocation per item). */
let argumentEnd = 0

/** Reads the argument of the head at `o` (after the initial byte) and sets {@link argumentEnd}. */
function readArgument (p: Uint8Array, o: number, info: number): number {
  if (info < 24) { argumentEnd = o; return info }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
  if (size === 0) throw refuse(info === 31 ? 'indefinite' : 'reserved', o - 1, info === 31 ? 'indefinite length' : 'reserved additional info')
  if (o + size > p.length) throw refuse('truncated', o - 1, 'truncated head')
  let value = 0
  for (let i = 0; i < size; i++) value = value * 256 + (p[o + i] as number)
  argumentEnd = o + size
  return value
}

/** What {@link scanCborItem} returns when `p` is a prefix of the payload and ends before the item does. */
export const PREFIX_ENDED = -1

/**
 * Checks one CBOR item starting at `start` against `limits` and returns the offset just past
 * it. `payloadBytes` is the whole payload's length: it sets the allowances and the bytes-left
 * checks, so `p` may be a prefix; when the prefix ends between two heads before the item does,
 * the scan returns {@link PREFIX_ENDED} (nothing past a limit so far; no error built for every
 * large frame). Throws ERR_CBOR_INVALID with `details.reason` (a {@link CborScanFailure}) and
 * `details.offset`; a head cut by the prefix's end is `truncated`.
 */
export function scanCborItem (p: Uint8Array, start: number, limits: CborLimits, payloadBytes = p.length): number {
  const maxContainers = limits.containerBase + Math.floor(payloadBytes / limits.bytesPerContainer)
  const maxItems = Math.min(limits.maxItems, limits.itemBase + Math.floor(payloadBytes / limits.bytesPerItem))
  // Where the payload ends: `p` may be only its first bytes (a prefix checked before the rest arrives).
  const end = Math.max(p.length, payloadBytes)
  // Children still expected by each open map or array, innermost last.
  const open: number[] = []
  let items = 0
  let containers = 0
  let o = start
  for (;;) {
    if (o >= p.length) {
      if (p.length < end) return PREFIX_ENDED
      throw refuse('truncated', o, 'truncated item')
    }
    const initial = p[o] as number
    const major = initial >> 5
    const arg = readArgument(p, o + 1, initial & 0x1f)
    const next = argumentEnd
    if (++items > maxItems) throw refuse('too_many_items', o, `more than ${maxItems} items`)
    let children = 0
    if (major === 2 || major === 3) {
      if (arg > end - next) throw refuse('truncated', o, 'string longer than the payload')
      o = next + arg
    } else if (major === 4 || major === 5) {
      children = major === 4 ? arg : arg * 2
      // Every child takes at least one byte: a count beyond the bytes left is a lie, refused before any work.
      if (children > end - next) throw refuse('truncated', o, 'more entries than bytes left')
      if (++containers > maxContainers) throw refuse('too_many_containers', o, `more than ${maxContainers} maps and arrays`)
      if (open.length + 1 > limits.maxDepth) throw refuse('too_deep', o, `nesting deeper than ${limits.maxDepth}`)
      o = next
    } else if (major === 6) {
      throw refuse('tag', o, 'tags are not allowed')
    } else {
      o = next
    }
    if (children > 0) {
      open.push(children)
      continue
    }
    // This item is complete: close every container it completes.
    for (;;) {
      const last = open.length - 1
      if (last < 0) return o
      const left = (open[last] as number) - 1
      if (left > 0) { open[last] = left; break }
      open.pop()
    }
  }
}

/**
 * The text value of top-level key `key` of the CBOR map in `p`, found by skipping the other
 * entries without decoding them (bounded by `limits`). Undefined when `p` is not a map, the
 * key is absent or its value is not a text string.
 */
export function peekMapText (p: Uint8Array, key: number, limits: CborLimits): string | undefined {
  const initial = p[0]
  if (initial === undefined || initial >> 5 !== 5) return undefined
  try {
    const entries = readArgument(p, 1, initial & 0x1f)
    let o = argumentEnd
    for (let i = 0; i < entries; i++) {
      const keyByte = p[o]
      const matches = keyByte !== undefined && keyByte >> 5 === 0 && readArgument(p, o + 1, keyByte & 0x1f) === key
      o = scanCborItem(p, o, limits)
      const valueByte = p[o]
      if (matches && valueByte !== undefined && valueByte >> 5 === 3) {
        const length = readArgument(p, o + 1, valueByte & 0x1f)
        const textStart = argumentEnd
        if (textStart + length > p.length) return undefined
        return Buffer.from(p.buffer, p.byteOffset + textStart, length).toString('utf8')
      }
      o = scanCborItem(p, o, limits)
    }
  } catch {
    // Malformed bytes: no key to report.
  }
  return undefined
}
