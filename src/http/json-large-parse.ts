/**
 * JSON.parse for documents that carry large strings (a prompt, a file, a model's output). V8's
 * JSON.parse looks at every character of a string in turn; here the large string values are
 * found with `indexOf` (which also rules out `"` and `\` inside them), checked for control bytes
 * and decoded straight from the bytes, and only the rest of the document (its skeleton, with a
 * short marker in place of each large string) goes through JSON.parse. 1.76 → 0.76 ms per 1 MiB
 * string on the bench machine (decoding included).
 *
 * The result is the one JSON.parse gives, errors included: a document this path cannot take
 * (an escaped large string, a `\u0000` escape anywhere, which could spell a marker) is left to
 * JSON.parse whole, and so is any document whose skeleton does not parse, so that the
 * SyntaxError and its position are JSON.parse's own.
 */
import { isAscii } from 'node:buffer'
import { isSpace } from './json-scanner.ts'
import { hasControlByte } from './json-verbatim.ts'

/** Documents from this size up are looked through for large strings. */
export const LARGE_JSON_BYTES = 64 * 1024
/** Strings of at least this many bytes (between their quotes) are taken out of the skeleton. */
const LARGE_STRING_BYTES = 8 * 1024
/** After this many strings the rest of the document stays in the skeleton (bounds the JavaScript loop). */
const MAX_STRINGS_LOOKED_AT = 1024

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
/** A marker is U+0000 and the large string's index: no string of a document without `\u0000` can equal one. */
const MARKER_LEAD = '\u0000'
const NUL_ESCAPE = Buffer.from('\\u0000', 'latin1')

/** True unless the first non-whitespace byte after `i` is `:` (the string before it is a key). */
function isValueAt (b: Buffer, i: number): boolean {
  while (i < b.length && isSpace(b[i] as number)) i++
  return b[i] !== COLON
}

/**
 * Parses the UTF-8 JSON document `b` with its large string values taken out of JSON.parse's
 * way. Returns undefined when it has none (or this path cannot take it): the caller then
 * parses it whole. Throws only what JSON.parse would throw for `b`.
 */
export function parseJsonWithLargeStrings (b: Buffer): { value: unknown } | undefined {
  if (b.length < LARGE_JSON_BYTES || b.indexOf(NUL_ESCAPE) >= 0) return undefined
  const encoding = isAscii(b) ? 'latin1' : 'utf8'
  const skeleton: string[] = []
  const large: string[] = []
  let copiedTo = 0
  let from = 0
  let nextBackslash = b.indexOf(BACKSLASH)
  for (let looked = 0; looked < MAX_STRINGS_LOOKED_AT; looked++) {
    const open = b.indexOf(QUOTE, from)
    if (open < 0) break
    // The closing quote: the first `"` not taken by an escape (each `\` takes the byte after it).
    let at = open + 1
    let escaped = false
    let close: number
    for (;;) {
      close = b.indexOf(QUOTE, at)
      if (close < 0) return undefined
      if (nextBackslash >= 0 && nextBackslash < at) nextBackslash = b.indexOf(BACKSLASH, at)
      if (nextBackslash < 0 || nextBackslash > close) break
      escaped = true
      at = nextBackslash + 2
    }
    from = close + 1
    if (escaped || close - open - 1 < LARGE_STRING_BYTES || !isValueAt(b, close + 1)) continue
    // No `"` or `\` inside (found above); a control character makes the document invalid: JSON.parse is left to say so.
    if (hasControlByte(b.subarray(open + 1, close))) return undefined
    skeleton.push(b.toString(encoding, copiedTo, open), `"\\u0000${large.length}"`)
    large.push(b.toString(encoding, open + 1, close))
    copiedTo = close + 1
  }
  if (large.length === 0) return undefined
  skeleton.push(b.toString(encoding, copiedTo))
  try {
    return { value: JSON.parse(skeleton.join(''), (_key, value: unknown) => typeof value === 'string' && value.startsWith(MARKER_LEAD) ? large[Number(value.slice(1))] : value) }
  } catch {
    // Invalid outside the large strings: JSON.parse of the whole document reports it.
    return undefined
  }
}
