/**
 * Call ids: a random UUIDv4 string per forwarded call (CALL key 15), as upstream relays create
 * them. `crypto.randomUUID()` joins 21 small strings per id; on a relay's hot path this writes
 * the 36 characters into one buffer and reads them back as one string.
 */
import { randomFillSync } from 'node:crypto'

/** Ids drawn from one fill of the entropy pool. */
const IDS_PER_FILL = 256
const pool = Buffer.allocUnsafeSlow(16 * IDS_PER_FILL)
let used = IDS_PER_FILL
const text = Buffer.allocUnsafeSlow(36)
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** A new random UUIDv4 (RFC 9562) in its 36-character lowercase form, e.g. `0b5f…-4…-a…`. */
export function newCallId (): string {
  if (used === IDS_PER_FILL) {
    randomFillSync(pool)
    used = 0
  }
  const at = 16 * used++
  let j = 0
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[j++] = 0x2d
    let byte = pool[at + i] as number
    if (i === 6) byte = (byte & 0x0f) | 0x40 // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80 // variant 10
    text[j++] = HEX[byte >> 4] as number
    text[j++] = HEX[byte & 0x0f] as number
  }
  return text.toString('latin1', 0, 36)
}
