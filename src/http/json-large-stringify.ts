/**
 * JSON.stringify to UTF-8 bytes for values that carry large strings (a model's output, a file).
 * V8's JSON.stringify looks at every character of a string in turn to escape it (about 3 ms
 * per 1 MiB on the bench machine), and the text it returns is then encoded again into a frame.
 * Here the value is serialised with a short marker in place of each large string, and each
 * large string is written as UTF-8 straight into the output and checked there with
 * {@link isJsonVerbatim}: what JSON.stringify would have written for it, because it would have
 * escaped nothing. About 1 ms per 1 MiB string in all, against 3.2 ms for JSON.stringify and
 * the encoding after it.
 *
 * The bytes are those of `Buffer.from(JSON.stringify(value))`. A large string that needs
 * escapes (or holds a lone surrogate) is written by JSON.stringify itself; a value with no
 * large string among its first values is serialised by JSON.stringify alone. (Looking for
 * large strings reads the first values once before JSON.stringify does: a getter among them
 * runs twice.)
 */
import { randomUUID } from 'node:crypto'
import { isJsonVerbatim } from './json-verbatim.ts'

/** Strings of at least this many characters are written straight into the output. */
export const LARGE_STRING_CHARS = 8 * 1024
/** How many values (of objects and arrays, depth first) are looked at for a large string. */
const MAX_VALUES_LOOKED_AT = 256

/** True when a string of {@link LARGE_STRING_CHARS} or more is among the first values of `value`. */
function hasLargeString (value: unknown): boolean {
  const stack: unknown[] = [value]
  let looked = 0
  while (stack.length > 0 && looked < MAX_VALUES_LOOKED_AT) {
    const v = stack.pop()
    looked++
    if (typeof v === 'string') {
      if (v.length >= LARGE_STRING_CHARS) return true
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length && stack.length < MAX_VALUES_LOOKED_AT; i++) stack.push(v[i])
    } else if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      // (A value with toJSON serialises as something else: left to JSON.stringify.)
      for (const key in v) {
        if (stack.length >= MAX_VALUES_LOOKED_AT) break
        if (Object.hasOwn(v, key)) stack.push((v as Record<string, unknown>)[key])
      }
    }
  }
  return false
}

/**
 * `JSON.stringify(value)` as UTF-8 bytes in a buffer from `alloc(length)` when `value` carries
 * large strings; otherwise the JSON text itself (a string, or undefined where JSON.stringify
 * gives undefined). Throws what JSON.stringify throws.
 */
export function stringifyJsonBytes (value: unknown, alloc: (length: number) => Buffer = n => Buffer.allocUnsafe(n)): Buffer | string | undefined {
  if (!hasLargeString(value)) return JSON.stringify(value)
  const large: string[] = []
  // A marker no string of the value holds in practice; checked below, not assumed.
  const tag = `\u0000${randomUUID()}:`
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'string' || v.length < LARGE_STRING_CHARS) return v
    large.push(v)
    return `${tag}${large.length - 1}`
  }) as string | undefined
  if (text === undefined || large.length === 0) return text
  // The serialised marker: `"` + `\u0000` escaped + the rest + `"`.
  const escapedTag = `"\\u0000${tag.slice(1)}`
  const pieces: string[] = []
  let at = 0
  for (let i = 0; i < large.length; i++) {
    const marker = `${escapedTag}${i}"`
    const found = text.indexOf(marker, at)
    if (found < 0) return JSON.stringify(value)
    pieces.push(text.slice(at, found))
    at = found + marker.length
  }
  pieces.push(text.slice(at))
  if (pieces.some(p => p.includes(escapedTag))) return JSON.stringify(value)
  // JSON.stringify escapes a lone surrogate; UTF-8 cannot hold one.
  if (!large.every(s => s.isWellFormed())) return joinQuoted(pieces, large)
  let length = 0
  for (const p of pieces) length += Buffer.byteLength(p, 'utf8')
  for (const s of large) length += Buffer.byteLength(s, 'utf8') + 2
  const out = alloc(length)
  let o = out.write(pieces[0] as string, 0, 'utf8')
  for (let i = 0; i < large.length; i++) {
    out[o++] = 0x22
    const start = o
    o += out.write(large[i] as string, o, 'utf8')
    if (!isJsonVerbatim(out, start, o)) return joinQuoted(pieces, large)
    out[o++] = 0x22
    o += out.write(pieces[i + 1] as string, o, 'utf8')
  }
  return out
}

/** The JSON text with each large string serialised by JSON.stringify in its place. */
function joinQuoted (pieces: readonly string[], large: readonly string[]): string {
  let text = pieces[0] as string
  for (let i = 0; i < large.length; i++) text += JSON.stringify(large[i]) + (pieces[i + 1] as string)
  return text
}
