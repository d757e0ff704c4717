/**
 * UTF-8 JSON bytes to a string for JSON.parse. An ASCII body (most are) is decoded as Latin-1,
 * which gives the same string several times cheaper than UTF-8 decoding for large bodies (one
 * SIMD check first); anything else is decoded as UTF-8 (invalid sequences become U+FFFD).
 */
import { isAscii } from 'node:buffer'
import { parseJsonWithLargeStrings } from './json-large-parse.ts'

/** The text of UTF-8 bytes `b`. */
export function utf8Text (b: Buffer): string {
  return b.toString(isAscii(b) ? 'latin1' : 'utf8')
}

/**
 * Parses UTF-8 JSON bytes (throws SyntaxError like JSON.parse). A large document's large
 * strings are decoded straight from the bytes (json-large-parse.ts); the result is the same.
 */
export function parseJsonBytes (b: Buffer): unknown {
  const large = parseJsonWithLargeStrings(b)
  return large !== undefined ? large.value : JSON.parse(utf8Text(b))
}
