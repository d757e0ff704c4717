/**
 * UTF-8 JSON bytes to a string for JSON.parse. An ASCII body (most are) is decoded as Latin-1,
 * which gives the same string several times cheaper than UTF-8 decoding for large bodies (one
 * SIMD check first); anything else is decoded as UTF-8 (invalid sequences become U+FFFD).
 */
import { isAscii } from 'node:buffer'

/** The text of UTF-8 bytes `b`. */
export function utf8Text (b: Buffer): string {
  return b.toString(isAscii(b) ? 'latin1' : 'utf8')
}

/** Parses UTF-8 JSON bytes (throws SyntaxError like JSON.parse). */
export function parseJsonBytes (b: Buffer): unknown {
  return JSON.parse(utf8Text(b))
}
