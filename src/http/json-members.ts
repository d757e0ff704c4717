/**
 * A bounded scan of a JSON document that validates its grammar and locates a few top-level
 * members of an object without building it: the relay reads a task's `task_id` and an answer's
 * `error`/`result` this way instead of parsing bodies of up to 16 MiB.
 *
 * Validation is that of JSON.parse (RFC 8259 grammar, numbers, literals, escapes, nesting),
 * with one documented difference: the inside of strings is found with `indexOf` (so its cost
 * does not grow with string length in JavaScript) and raw control characters (U+0000–U+001F)
 * inside strings are not looked for. Invalid UTF-8 is not rejected either (JSON.parse after
 * `toString('utf8')` would replace it, not reject it). The scan itself is src/http/json-scanner.ts
 * (which also takes a document in chunks); this module holds the one-buffer helpers.
 */
import { ByteChunks } from '../byte-chunks.ts'
import { JsonScanner, type JsonNames, type JsonScan, type ValueSpan } from './json-scanner.ts'

export { JsonScanner, MAX_JSON_DEPTH, jsonNames, type JsonNames, type JsonScan, type ValueSpan } from './json-scanner.ts'

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Scans `b` as one JSON document. Throws a SyntaxError (with the byte position) unless it is
 * valid JSON; returns where the wanted top-level members of an object are.
 */
export function scanJson (b: Buffer, wanted: JsonNames): JsonScan {
  const scanner = new JsonScanner(wanted)
  scanner.push(b)
  return scanner.end()
}

/** {@link scanJson} of a document held as chunks (the socket reads it arrived in), without joining them. */
export function scanJsonChunks (parts: readonly Buffer[], wanted: JsonNames): JsonScan {
  const scanner = new JsonScanner(wanted)
  for (const part of parts) scanner.push(part)
  return scanner.end()
}

/** The string at `span` (a JSON string value) of one buffer or chunks, or undefined when the value is not a string. */
export function jsonStringAt (b: Buffer | ByteChunks, span: ValueSpan | undefined): string | undefined {
  if (span === undefined || span.first !== QUOTE) return undefined
  const text = b instanceof ByteChunks ? b.slice(span.start, span.end) : b.subarray(span.start, span.end)
  if (!text.includes(BACKSLASH)) return text.toString('utf8', 1, text.length - 1)
  return JSON.parse(text.toString('utf8')) as string
}

/** True when the value at `span` is the literal `null` or `false` (the only values starting with `n` or `f`). */
export function isNullOrFalse (span: ValueSpan): boolean {
  return span.first === 0x6e || span.first === 0x66
}
