/**
 * The streaming form of the bounded JSON scan (src/http/json-members.ts): a state machine fed a
 * document chunk by chunk, split at any byte, so a body of up to 16 MiB is checked and its
 * wanted top-level members located while it stays the socket's chunks, never joined into one
 * buffer. Positions (error messages, value spans) count from the document's first byte.
 *
 * Same grammar and the same documented differences from JSON.parse as the one-buffer scan:
 * string contents are skipped with `indexOf` (raw control characters inside strings are not
 * looked for), invalid UTF-8 is not rejected, nesting deeper than {@link MAX_JSON_DEPTH} is.
 */

/** Where a member's value sits in the document: bytes `[start, end)`, and its first byte. */
export interface ValueSpan {
  start: number
  end: number
  /** The value's first byte (`"`, `{`, `[`, `t`, `f`, `n`, `-` or a digit). */
  first: number
}

/** Member names to look for, encoded once (see {@link jsonNames}). */
export interface JsonNames {
  readonly names: readonly string[]
  readonly bytes: readonly Buffer[]
  /** Key bytes kept for matching: a longer key (even fully escaped, 6 bytes per character) matches no name. */
  readonly keepBytes: number
}

/** What a scan found. */
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
  const bytes = names.map(n => Buffer.from(n, 'utf8'))
  return { names, bytes, keepBytes: 2 + 6 * Math.max(0, ...names.map(n => n.length)) }
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
const LITERALS: ReadonlyMap<number, Buffer> = new Map([[0x74, Buffer.from('true')], [0x66, Buffer.from('false')], [0x6e, Buffer.from('null')]])

// What the scanner expects next.
/** A value (after `:`, `,` in an array, or at the start). */
const M_VALUE = 0
/** A value or `]` (right after `[`). */
const M_ARRAY_FIRST = 1
/** A key or `}` (right after `{`). */
const M_OBJECT_FIRST = 2
/** A key (after `,` in an object). */
const M_KEY = 3
/** `:` after a key. */
const M_COLON = 4
/** `,` or the container's closing bracket (or the document's end at depth 0). */
const M_AFTER_VALUE = 5
/** Inside a string (a key or a value). */
const M_STRING = 6
/** Inside a number. */
const M_NUMBER = 7
/** Inside `true`, `false` or `null`. */
const M_LITERAL = 8

// Number grammar states: which bytes may come next.
/** After `-`: a digit. */
const N_MINUS = 0
/** After a leading `0`: `.`, `e`, or the end. */
const N_ZERO = 1
/** In the integer digits. */
const N_INT = 2
/** After `.`: a digit. */
const N_DOT = 3
/** In the fraction digits. */
const N_FRAC = 4
/** After `e`: a sign or a digit. */
const N_EXP = 5
/** After the exponent's sign: a digit. */
const N_EXP_SIGN = 6
/** In the exponent digits. */
const N_EXP_DIGITS = 7

function syntaxError (what: string, at: number): SyntaxError {
  return new SyntaxError(`${what} at position ${at}`)
}

/** True for JSON's four whitespace bytes (space, LF, CR, tab). */
export function isSpace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function isDigit (c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

function isHex (c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

function isSimpleEscape (c: number): boolean {
  return c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74
}

/**
 * Scans one JSON document fed in chunks. `push` throws a SyntaxError (with the byte position)
 * as soon as the bytes so far cannot start a valid document; `end` throws unless they form one,
 * and returns where the wanted top-level members of an object are.
 *
 * @example
 * ```ts
 * const scanner = new JsonScanner(jsonNames(['task_id']))
 * for (const chunk of chunks) scanner.push(chunk)
 * const { isObject, spans } = scanner.end()
 * ```
 */
export class JsonScanner {
  readonly #wanted: JsonNames
  readonly #spans: Array<ValueSpan | undefined>
  /** Open containers, innermost last: 1 object, 0 array. */
  readonly #stack: number[] = []
  #depth = 0
  #mode: number = M_VALUE
  /** Absolute position of the current chunk's first byte. */
  #base = 0
  #isObject = false
  #open = -1
  #members = 0
  /** The wanted name whose value comes next at depth 1 (-1: none). */
  #member = -1
  #valueStart = 0
  #valueFirst = 0
  /** Whether the document's one value is complete (only whitespace may follow). */
  #done = false
  // String state.
  #stringIsKey = false
  /** Bytes of the escape still to check: 0 none, 1 the byte after `\`, 2–5 hex digits of `\u` left. */
  #escape = 0
  #keyEscaped = false
  /** Where a top-level key starts in the current chunk (its opening quote, or 0 in a later chunk). */
  #keyFrom = 0
  /** A top-level key's bytes from earlier chunks, while no longer than `keepBytes`. */
  #keyCarry: Buffer[] = []
  #keyCarryBytes = 0
  #keyTooLong = false
  // Number and literal state.
  #num: number = N_INT
  #literal: Buffer | undefined
  #literalAt = 0
  /** The next quote and backslash at or after the string position in the current chunk (-2: not searched yet). */
  #quote = -2
  #backslash = -2

  constructor (wanted: JsonNames) {
    this.#wanted = wanted
    this.#spans = wanted.names.map(() => undefined)
  }

  /** Scans the next chunk. Throws a SyntaxError at the first byte that breaks the grammar. */
  push (b: Buffer): void {
    const base = this.#base
    const n = b.length
    let i = 0
    this.#quote = -2
    this.#backslash = -2
    while (i < n) {
      switch (this.#mode) {
        case M_STRING:
          i = this.#string(b, i)
          break
        case M_NUMBER:
          i = this.#number(b, i)
          break
        case M_LITERAL:
          i = this.#literalBytes(b, i)
          break
        default: {
          const c = b[i] as number
          if (isSpace(c)) { i++; break }
          if (this.#done) throw syntaxError('unexpected data after the JSON value', base + i)
          i = this.#token(b, i, c)
        }
      }
    }
    if (this.#mode === M_STRING && this.#stringIsKey && this.#depth === 1 && this.#isObject) this.#carryKey(b, n)
    this.#base = base + n
  }

  /** Ends the document; throws unless it was one complete JSON value. */
  end (): JsonScan {
    if (this.#mode === M_NUMBER) {
      const s = this.#num
      if (s === N_ZERO || s === N_INT || s === N_FRAC || s === N_EXP_DIGITS) this.#valueDone(this.#base)
    }
    if (!this.#done) throw syntaxError('unexpected end of JSON', this.#base)
    return { isObject: this.#isObject, open: this.#open, members: this.#members, spans: this.#spans }
  }

  /** A structural byte (not whitespace) at `b[i]`, outside strings, numbers and literals. */
  #token (b: Buffer, i: number, c: number): number {
    const at = this.#base + i
    switch (this.#mode) {
      case M_OBJECT_FIRST:
        if (c === CLOSE_OBJECT) return this.#close(at, i)
        return this.#keyStart(c, at, i)
      case M_KEY:
        return this.#keyStart(c, at, i)
      case M_COLON:
        if (c !== COLON) throw syntaxError('expected a colon', at)
        this.#mode = M_VALUE
        return i + 1
      case M_AFTER_VALUE: {
        const inObject = this.#stack[this.#depth - 1] === 1
        if (c === COMMA) {
          this.#mode = inObject ? M_KEY : M_VALUE
          return i + 1
        }
        if (c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) return this.#close(at, i)
        throw syntaxError('unexpected token', at)
      }
      case M_ARRAY_FIRST:
        if (c === CLOSE_ARRAY) return this.#close(at, i)
        return this.#valueStartAt(b, i, c, at)
      default:
        return this.#valueStartAt(b, i, c, at)
    }
  }

  #keyStart (c: number, at: number, i: number): number {
    if (c !== QUOTE) throw syntaxError('expected a string key', at)
    this.#stringIsKey = true
    this.#escape = 0
    this.#keyEscaped = false
    this.#keyTooLong = false
    this.#keyFrom = i
    if (this.#keyCarryBytes > 0) {
      this.#keyCarry = []
      this.#keyCarryBytes = 0
    }
    this.#mode = M_STRING
    return i + 1
  }

  /** The first byte of a value. */
  #valueStartAt (b: Buffer, i: number, c: number, at: number): number {
    if (this.#depth === 0 && c === OPEN_OBJECT) {
      this.#isObject = true
      this.#open = at
    }
    if (this.#depth === 1 && this.#isObject) {
      this.#valueStart = at
      this.#valueFirst = c
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (this.#depth >= MAX_JSON_DEPTH) throw syntaxError(`nesting deeper than ${MAX_JSON_DEPTH}`, at)
      const object = c === OPEN_OBJECT
      this.#stack.push(object ? 1 : 0)
      this.#depth++
      this.#mode = object ? M_OBJECT_FIRST : M_ARRAY_FIRST
      return i + 1
    }
    if (c === QUOTE) {
      this.#stringIsKey = false
        this.#escape = 0
      this.#mode = M_STRING
      return i + 1
    }
    if (c === MINUS || isDigit(c)) {
      this.#num = c === MINUS ? N_MINUS : c === 0x30 ? N_ZERO : N_INT
      this.#mode = M_NUMBER
      return i + 1
    }
    const literal = LITERALS.get(c)
    if (literal === undefined) throw syntaxError('unexpected token', at)
    this.#literal = literal
    this.#literalAt = 1
    this.#mode = M_LITERAL
    return this.#literalBytes(b, i + 1)
  }

  /** A container closes at absolute `at` (index `i` in the chunk). */
  #close (at: number, i: number): number {
    this.#depth--
    this.#stack.pop()
    this.#valueDone(at + 1)
    return i + 1
  }

  /** A value ended just before absolute position `end`. */
  #valueDone (end: number): void {
    if (this.#depth === 1 && this.#isObject && this.#member >= 0) {
      this.#spans[this.#member] = { start: this.#valueStart, end, first: this.#valueFirst }
      this.#member = -1
    }
    if (this.#depth === 0) this.#done = true
    this.#mode = M_AFTER_VALUE
  }

  /** Inside a string from `b[i]`: skips to its closing quote or the chunk's end. */
  #string (b: Buffer, i: number): number {
    const n = b.length
    while (i < n) {
      if (this.#escape > 0) {
        const c = b[i] as number
        if (this.#escape === 1) {
          if (c === 0x75) this.#escape = 5
          else if (isSimpleEscape(c)) this.#escape = 0
          else throw syntaxError('bad escape', this.#base + i - 1)
        } else {
          if (!isHex(c)) throw syntaxError('bad \\u escape', this.#base + i)
          this.#escape--
          if (this.#escape === 1) this.#escape = 0
        }
        i++
        continue
      }
      // Cached per chunk: -1 (none left in it) stays valid, an index behind `i` is searched again.
      if (this.#quote !== -1 && this.#quote < i) this.#quote = b.indexOf(QUOTE, i)
      if (this.#backslash !== -1 && this.#backslash < i) this.#backslash = b.indexOf(BACKSLASH, i)
      const quote = this.#quote
      const backslash = this.#backslash
      const stop = backslash >= 0 && (quote < 0 || backslash < quote) ? backslash : quote
      if (stop < 0) return n
      if (stop === backslash) {
        if (this.#stringIsKey) this.#keyEscaped = true
        this.#escape = 1
        i = stop + 1
        continue
      }
      this.#stringDone(b, stop)
      return stop + 1
    }
    return i
  }

  /** A top-level key goes on past this chunk: keeps its bytes here (bounded) for the match. */
  #carryKey (b: Buffer, n: number): void {
    if (!this.#keyTooLong && this.#keyCarryBytes + n - this.#keyFrom <= this.#wanted.keepBytes) {
      this.#keyCarry.push(Buffer.from(b.subarray(this.#keyFrom, n)))
      this.#keyCarryBytes += n - this.#keyFrom
    } else {
      this.#keyTooLong = true
    }
    this.#keyFrom = 0
  }

  /** The string's closing quote is at `b[quote]`. */
  #stringDone (b: Buffer, quote: number): void {
    const end = this.#base + quote + 1
    if (!this.#stringIsKey) {
      this.#valueDone(end)
      return
    }
    if (this.#depth === 1 && this.#isObject) {
      this.#members++
      this.#member = this.#keyTooLong || this.#wanted.bytes.length === 0 ? -1 : this.#matchKey(b, quote + 1)
    }
    this.#mode = M_COLON
  }

  /** Index of the wanted name equal to the key ending before `b[end]` (quotes included), or -1. */
  #matchKey (b: Buffer, end: number): number {
    if (this.#keyCarryBytes === 0 && !this.#keyEscaped) {
      // The usual key, whole in this chunk and without escapes: compared where it lies, no view made.
      const inner = end - this.#keyFrom - 2
      if (inner + 2 > this.#wanted.keepBytes) return -1
      for (let k = 0; k < this.#wanted.bytes.length; k++) {
        const name = this.#wanted.bytes[k] as Buffer
        if (name.length === inner && b.compare(name, 0, inner, this.#keyFrom + 1, end - 1) === 0) return k
      }
      return -1
    }
    const here = b.subarray(this.#keyFrom, end)
    const raw = this.#keyCarryBytes === 0 ? here : Buffer.concat([...this.#keyCarry, here])
    if (raw.length > this.#wanted.keepBytes) return -1
    const text = this.#keyEscaped ? (JSON.parse(raw.toString('utf8')) as string) : undefined
    const inner = raw.length - 2
    for (let k = 0; k < this.#wanted.bytes.length; k++) {
      if (text !== undefined) {
        if (text === this.#wanted.names[k]) return k
      } else {
        const name = this.#wanted.bytes[k] as Buffer
        if (name.length === inner && raw.compare(name, 0, inner, 1, inner + 1) === 0) return k
      }
    }
    return -1
  }

  /** Inside a number from `b[i]`: consumes its bytes; the first byte after it is left for the structure. */
  #number (b: Buffer, i: number): number {
    const n = b.length
    while (i < n) {
      const c = b[i] as number
      const state = this.#num
      if (state === N_MINUS || state === N_DOT || state === N_EXP || state === N_EXP_SIGN) {
        // One byte that must be a digit (after `e`, a sign may come first).
        if (state === N_EXP && (c === 0x2b || c === MINUS)) {
          this.#num = N_EXP_SIGN
        } else {
          if (!isDigit(c)) throw syntaxError('expected a digit', this.#base + i)
          this.#num = state === N_MINUS ? (c === 0x30 ? N_ZERO : N_INT) : state === N_DOT ? N_FRAC : N_EXP_DIGITS
        }
        i++
        continue
      }
      // A run of digits (none after a leading zero), then `.` or `e` where allowed, else the number's end.
      if (state !== N_ZERO) {
        while (i < n && isDigit(b[i] as number)) i++
        if (i === n) return n
      }
      const d = b[i] as number
      if (d === 0x2e && (state === N_ZERO || state === N_INT)) this.#num = N_DOT
      else if ((d === 0x65 || d === 0x45) && state !== N_EXP_DIGITS) this.#num = N_EXP
      else return this.#numberDone(i)
      i++
    }
    return i
  }

  #numberDone (i: number): number {
    this.#valueDone(this.#base + i)
    return i
  }

  /** Inside a literal from `b[i]`: matches its remaining bytes. */
  #literalBytes (b: Buffer, i: number): number {
    const lit = this.#literal as Buffer
    const n = b.length
    while (i < n && this.#literalAt < lit.length) {
      if (b[i] !== lit[this.#literalAt]) throw syntaxError('unexpected token', this.#base + i)
      this.#literalAt++
      i++
    }
    if (this.#literalAt === lit.length) this.#valueDone(this.#base + i)
    return i
  }
}
