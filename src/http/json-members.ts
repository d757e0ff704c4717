/**
 * A bounded scan of a JSON document that validates its grammar and locates a few top-level
 * members of an object without building it: the relay reads a task's `task_id` and an answer's
 * `error`/`result` this way instead of parsing bodies of up to 16 MiB.
 *
 * Validation is that of JSON.parse (RFC 8259 grammar, numbers, literals, escapes, nesting),
 * with one documented difference: the inside of strings is found with `indexOf` (so its cost
 * does not grow with string length in JavaScript) and raw control characters (U+0000–U+001F)
 * inside strings are not looked for. Invalid UTF-8 is not rejected either (JSON.parse after
 * `toString('utf8')` would replace it, not reject it).
 */

/** Where a member's value sits in the document: bytes `[start, end)`. */
export interface ValueSpan {
  start: number
  end: number
}

/** Member names to look for, encoded once (see {@link jsonNames}). */
export interface JsonNames {
  readonly names: readonly string[]
  readonly bytes: readonly Buffer[]
}

/** What {@link scanJson} found. */
export interface JsonScan {
  /** True when the document is one JSON object. */
  isObject: boolean
  /** Index of the object's `{` (when `isObject`). */
  open: number
  /** Top-level members, duplicates counted (when `isObject`). */
  members: number
  /** The value span of each wanted name, in the order of {@link JsonNames}; the last duplicate wins. */
  spans: Array<ValueSpan | undefined>
}

/** Nesting deeper than this is refused (JSON.parse itself fails at a few thousand levels). */
export const MAX_JSON_DEPTH = 1000

/** Encodes the member names a scan looks for. */
export function jsonNames (names: readonly string[]): JsonNames {
  return { names, bytes: names.map(n => Buffer.from(n, 'utf8')) }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')]
/** Byte after a backslash → valid simple escape. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74])

function syntaxError (what: string, at: number): SyntaxError {
  return new SyntaxError(`${what} at position ${at}`)
}

function isSpace (c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function isDigit (c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39
}

function isHex (c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
}

function skipSpace (b: Buffer, i: number): number {
  while (isSpace(b[i])) i++
  return i
}

function skipDigits (b: Buffer, i: number): number {
  if (!isDigit(b[i])) throw syntaxError('expected a digit', i)
  while (isDigit(b[i])) i++
  return i
}

/** `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` starting at `i`; returns its end. */
function skipNumber (b: Buffer, i: number): number {
  if (b[i] === MINUS) i++
  if (b[i] === 0x30) i++
  else i = skipDigits(b, i)
  if (b[i] === 0x2e) i = skipDigits(b, i + 1)
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++
    if (b[i] === 0x2b || b[i] === MINUS) i++
    i = skipDigits(b, i)
  }
  return i
}

function skipLiteral (b: Buffer, i: number): number {
  for (const lit of LITERALS) {
    if (b[i] === lit[0] && i + lit.length <= b.length && b.compare(lit, 0, lit.length, i, i + lit.length) === 0) return i + lit.length
  }
  throw syntaxError('unexpected token', i)
}

/**
 * Scans `b` as one JSON document. Throws a SyntaxError (with the byte position) unless it is
 * valid JSON; returns where the wanted top-level members of an object are.
 */
export function scanJson (b: Buffer, wanted: JsonNames): JsonScan {
  const spans: Array<ValueSpan | undefined> = wanted.names.map(() => undefined)
  /** The next backslash at or after the current string position (cached: one indexOf per backslash). */
  let backslash = -1
  /** Whether the string {@link skipString} last skipped had an escape. */
  let escaped = false

  /** Skips the string whose opening quote is at `i`; returns the index after its closing quote. */
  function skipString (i: number): number {
    let j = i + 1
    escaped = false
    for (;;) {
      const quote = b.indexOf(QUOTE, j)
      if (quote < 0) throw syntaxError('unterminated string', i)
      if (backslash < j) {
        backslash = b.indexOf(BACKSLASH, j)
        if (backslash < 0) backslash = b.length
      }
      if (backslash > quote) return quote + 1
      const e = b[backslash + 1] ?? -1
      escaped = true
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) if (!isHex(b[backslash + k])) throw syntaxError('bad \\u escape', backslash)
        j = backslash + 6
      } else if (SIMPLE_ESCAPES.has(e)) {
        j = backslash + 2
      } else {
        throw syntaxError('bad escape', backslash)
      }
    }
  }

  /** Index of the wanted name equal to the key `b[start, end)` (quotes included), or -1. */
  function matchKey (start: number, end: number): number {
    const inner = end - start - 2
    const text = escaped ? (JSON.parse(b.toString('utf8', start, end)) as string) : undefined
    for (let k = 0; k < wanted.bytes.length; k++) {
      if (text !== undefined) {
        if (text === wanted.names[k]) return k
      } else {
        const name = wanted.bytes[k] as Buffer
        if (name.length === inner && b.compare(name, 0, inner, start + 1, end - 1) === 0) return k
      }
    }
    return -1
  }

  const stack: boolean[] = [] // true: object, false: array
  let isObject = false
  let open = -1
  let members = 0
  let member = -1
  let valueStart = 0
  let i = skipSpace(b, 0)
  let expectValue = true
  for (;;) {
    if (expectValue) {
      i = skipSpace(b, i)
      const c = b[i]
      if (stack.length === 0 && c === OPEN_OBJECT) {
        isObject = true
        open = i
      }
      if (stack.length === 1 && isObject) valueStart = i
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (stack.length >= MAX_JSON_DEPTH) throw syntaxError(`nesting deeper than ${MAX_JSON_DEPTH}`, i)
        const objectOpen = c === OPEN_OBJECT
        stack.push(objectOpen)
        i = skipSpace(b, i + 1)
        if (b[i] !== (objectOpen ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          if (!objectOpen) continue
          // First key of a non-empty object.
          expectValue = false
          i = key(i)
          continue
        }
        stack.pop()
        i++
      } else if (c === QUOTE) {
        i = skipString(i)
      } else if (c === MINUS || isDigit(c)) {
        i = skipNumber(b, i)
      } else {
        i = skipLiteral(b, i)
      }
      valueDone()
      expectValue = false
      continue
    }
    // After a value: a separator, a closing bracket, or the end of the document.
    i = skipSpace(b, i)
    if (stack.length === 0) {
      if (i !== b.length) throw syntaxError('unexpected data after the JSON value', i)
      return { isObject, open, members, spans }
    }
    const inObject = stack[stack.length - 1] as boolean
    const c = b[i]
    if (c === COMMA) {
      if (inObject) i = key(i + 1)
      else i++
      expectValue = true
    } else if (c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      stack.pop()
      i++
      valueDone()
    } else {
      throw syntaxError(c === undefined ? 'unexpected end of JSON' : 'unexpected token', i)
    }
  }

  /** Reads `"key" :` at `i` (after whitespace); notes whether a wanted top-level member follows. */
  function key (at: number): number {
    const start = skipSpace(b, at)
    if (b[start] !== QUOTE) throw syntaxError('expected a string key', start)
    const end = skipString(start)
    if (stack.length === 1 && isObject) {
      members++
      member = wanted.bytes.length === 0 ? -1 : matchKey(start, end)
    }
    const colon = skipSpace(b, end)
    if (b[colon] !== COLON) throw syntaxError('expected a colon', colon)
    expectValue = true
    return colon + 1
  }

  /** A value ended at `i`: record it if it is a wanted member of the top-level object. */
  function valueDone (): void {
    if (stack.length === 1 && isObject && member >= 0) {
      spans[member] = { start: valueStart, end: i }
      member = -1
    }
  }
}

/** The string at `span` (a JSON string value), or undefined when the value is not a string. */
export function jsonStringAt (b: Buffer, span: ValueSpan | undefined): string | undefined {
  if (span === undefined || b[span.start] !== QUOTE) return undefined
  if (!b.subarray(span.start, span.end).includes(BACKSLASH)) return b.toString('utf8', span.start + 1, span.end - 1)
  return JSON.parse(b.toString('utf8', span.start, span.end)) as string
}

/** True when the value at `span` is the literal `null` or `false` (the only values starting with `n` or `f`). */
export function isNullOrFalseAt (b: Buffer, span: ValueSpan): boolean {
  const c = b[span.start]
  return c === 0x6e || c === 0x66
}
