/**
 * Whether UTF-8 bytes can stand verbatim between the quotes of a JSON string: no `"`, no `\`
 * and no control character (U+0000–U+001F). Such bytes read back as exactly the text they
 * encode, and are exactly what JSON.stringify writes for that text (it escapes only those
 * characters and lone surrogates, which UTF-8 cannot hold). The large-string JSON paths
 * (json-large-parse.ts, json-large-stringify.ts) use this check in place of V8's per-character
 * JSON work: `"` and `\` are found with `indexOf` (memchr), control characters four bytes at a
 * time.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
/** 0x20 in each byte of a 32-bit word. */
const SPACE_X4 = 0x20202020
/** The high bit of each byte of a 32-bit word. */
const HIGH_BITS_X4 = 0x80808080 | 0

/**
 * True when `b[start, end)` holds no `"`, `\` or byte below 0x20. (Bytes from 0x80 up, UTF-8's
 * multi-byte sequences, are allowed.)
 */
export function isJsonVerbatim (b: Buffer, start: number, end: number): boolean {
  const region = b.subarray(start, end)
  return region.indexOf(QUOTE) < 0 && region.indexOf(BACKSLASH) < 0 && !hasControlByte(region)
}

/** True when `b` holds a byte below 0x20 (a control character, which a JSON string may not hold raw). */
export function hasControlByte (b: Buffer): boolean {
  let i = 0
  // Up to the first 4-byte boundary one byte at a time, then whole words, then the tail.
  const lead = Math.min(b.length, (4 - (b.byteOffset & 3)) & 3)
  for (; i < lead; i++) if ((b[i] as number) < 0x20) return true
  const words = (b.length - i) >>> 2
  if (words > 0) {
    const w = new Int32Array(b.buffer, b.byteOffset + i, words)
    // A byte x < 0x20 sets its high bit in (word - 0x20202020) & ~word; no other byte can
    // (a byte from 0x80 up has its own high bit cleared by ~word, and borrows only start at a
    // byte below 0x20). Exact as an any-byte test.
    let found = 0
    for (let k = 0; k < words; k++) {
      const x = w[k] as number
      found |= (x - SPACE_X4) & ~x
    }
    if ((found & HIGH_BITS_X4) !== 0) return true
    i += words * 4
  }
  for (; i < b.length; i++) if ((b[i] as number) < 0x20) return true
  return false
}
