// The large-string JSON paths give exactly what JSON.parse and JSON.stringify give: values,
// bytes and errors, over documents built to hit each of their branches.
import { strict as assert } from 'node:assert'
import { describe, it } from 'node:test'
import { LARGE_JSON_BYTES, parseJsonWithLargeStrings } from '../../src/http/json-large-parse.ts'
import { LARGE_STRING_CHARS, stringifyJsonBytes } from '../../src/http/json-large-stringify.ts'
import { parseJsonBytes } from '../../src/http/json-text.ts'
import { isJsonVerbatim } from '../../src/http/json-verbatim.ts'
import { prng } from '../helpers/prng.ts'

/** A deterministic pseudo-random string of `n` characters drawn from `alphabet`. */
function text (n: number, alphabet: string, seed = 1): string {
  const chars = Array.from(alphabet)
  let x = seed
  let s = ''
  while (s.length < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    s += chars[x % chars.length] as string
  }
  return s
}

const BIG = 70 * 1024
const ascii = text(BIG, 'abc xyz 0123456789.,-_/')
const utf8 = text(BIG, 'aé€😀 中文\u2028z')

/** What JSON.parse gives for the UTF-8 bytes `b`: a value or the thrown error's class and message. */
function reference (b: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(b.toString('utf8')) }
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` }
  }
}

function ours (b: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: parseJsonBytes(b) }
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` }
  }
}

describe('isJsonVerbatim', () => {
  it('finds a quote, a backslash or a control byte at every offset and alignment', () => {
    const base = Buffer.from('x'.repeat(40))
    assert.equal(isJsonVerbatim(base, 0, base.length), true)
    for (const bad of [0x00, 0x09, 0x0a, 0x1f, 0x22, 0x5c]) {
      for (let at = 0; at < 40; at++) {
        const b = Buffer.from(base)
        b[at] = bad
        for (const start of [0, 1, 2, 3]) assert.equal(isJsonVerbatim(b, start, b.length), at < start, `byte ${bad} at ${at} from ${start}`)
      }
    }
  })

  it('lets UTF-8 multi-byte sequences, space and DEL through', () => {
    const b = Buffer.from(`${utf8.slice(0, 200)} \u007f~`, 'utf8')
    assert.equal(isJsonVerbatim(b, 0, b.length), !utf8.slice(0, 200).includes('"'))
    const high = Buffer.alloc(64, 0xff)
    assert.equal(isJsonVerbatim(high, 0, high.length), true)
    const borrow = Buffer.from([0x20, 0x20, 0x20, 0x21, 0x80, 0xa0, 0x20, 0x20])
    assert.equal(isJsonVerbatim(borrow, 0, borrow.length), true)
  })
})

describe('parseJsonBytes with large strings', () => {
  const documents: Record<string, string> = {
    'one large ASCII value': JSON.stringify({ task_id: 't', payload: { data: ascii } }),
    'one large UTF-8 value': JSON.stringify({ task_id: 't', payload: { data: utf8 } }),
    'a large string as the whole document': JSON.stringify(ascii),
    'large strings in an array, with small ones between': JSON.stringify([ascii, 'a', 1, utf8, { k: ascii }, null, true]),
    'a large key (stays in the skeleton)': `{${JSON.stringify(ascii)} : 1, "v": ${JSON.stringify(ascii)}}`,
    'a large string with escapes (left to JSON.parse)': JSON.stringify({ a: `${ascii}\n"\\${ascii}`, b: ascii }),
    'escaped quotes and backslashes before a large string': JSON.stringify({ a: 'x\\"y\\\\', b: '\\', c: ascii }),
    'whitespace around everything': ` \n{ "a" :\t${JSON.stringify(ascii)} ,\r\n"b" : [ ${JSON.stringify(utf8)} ] } `,
    'a string that looks like a marker': JSON.stringify({ m: '\\u00000', big: ascii }),
    'a \\u0000 escape (left to JSON.parse)': `{"n":"\\u00000","big":${JSON.stringify(ascii)}}`,
    'duplicate keys': `{"a":${JSON.stringify(ascii)},"a":"small"}`,
    '__proto__ as a key': `{"__proto__":${JSON.stringify(ascii)},"x":1}`,
    'many small strings, then a large one': JSON.stringify({ list: Array.from({ length: 2000 }, (_, i) => `s${i}`), big: ascii }),
    'small document (below the threshold)': JSON.stringify({ a: 'x'.repeat(100) })
  }
  for (const [name, doc] of Object.entries(documents)) {
    it(`gives JSON.parse's value: ${name}`, () => {
      const b = Buffer.from(doc, 'utf8')
      assert.deepEqual(ours(b), reference(b))
    })
  }

  it('takes the large-string path for a large document with a large string, and not otherwise', () => {
    assert.notEqual(parseJsonWithLargeStrings(Buffer.from(documents['one large ASCII value'] as string)), undefined)
    assert.notEqual(parseJsonWithLargeStrings(Buffer.from(documents['one large UTF-8 value'] as string)), undefined)
    assert.equal(parseJsonWithLargeStrings(Buffer.from(documents['a \\u0000 escape (left to JSON.parse)'] as string)), undefined)
    assert.equal(parseJsonWithLargeStrings(Buffer.from(JSON.stringify({ list: Array.from({ length: 9000 }, (_, i) => i) }))), undefined)
    assert.ok(Buffer.byteLength(documents['small document (below the threshold)'] as string) < LARGE_JSON_BYTES)
  })

  const invalid: Record<string, string> = {
    'a raw control character inside a large string': `{"a":"${ascii.slice(0, 9000)}\u0001${ascii.slice(9000)}"}`,
    'a raw newline inside a large string': `["${ascii.slice(0, 9000)}\n${ascii.slice(9000)}"]`,
    'an error after a large string': `{"a":${JSON.stringify(ascii)},"b":tru}`,
    'an error before a large string': `{"a":01,"b":${JSON.stringify(ascii)}}`,
    'an unterminated large string': `{"a":"${ascii}`,
    'trailing bytes': `${JSON.stringify({ a: ascii })} x`,
    'a bad escape before a large string': `{"a":"\\u00z1","b":${JSON.stringify(ascii)}}`,
    'a missing colon after a key': `{"a" ${JSON.stringify(ascii)}}`,
    'a large string as a key without a value': `{${JSON.stringify(ascii)}}`
  }
  for (const [name, doc] of Object.entries(invalid)) {
    it(`throws JSON.parse's SyntaxError: ${name}`, () => {
      const b = Buffer.from(doc, 'utf8')
      const want = reference(b)
      assert.ok('error' in want, 'the document is invalid')
      assert.deepEqual(ours(b), want)
    })
  }

  it('decodes invalid UTF-8 as JSON.parse after toString does (U+FFFD)', () => {
    const b = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(ascii), Buffer.from([0xc3, 0x28, 0xe2, 0x82]), Buffer.from(ascii), Buffer.from('"}')])
    assert.deepEqual(ours(b), reference(b))
  })
})

describe('stringifyJsonBytes', () => {
  const values: Record<string, unknown> = {
    'an echo result': { result: { echo: { data: ascii } } },
    'UTF-8 text': { result: utf8, note: 'é' },
    'a large string as the value': ascii,
    'large strings in arrays and nested objects': [ascii, 1, 'small', { a: utf8, b: [ascii, null] }, true],
    'a large string that needs escapes': { a: `${ascii}"\\\n\u0001`, b: ascii },
    'a lone surrogate in a large string': { a: `${ascii}\ud800${ascii}`, b: ascii },
    'a large key': { [ascii]: ascii },
    'toJSON values': { d: new Date(0), t: { toJSON: () => ascii }, big: ascii },
    'undefined, functions and symbols inside': { a: undefined, f: () => 1, s: Symbol('x'), arr: [undefined, () => 1], big: ascii },
    'a string exactly at the threshold': { a: 'y'.repeat(LARGE_STRING_CHARS), b: 'y'.repeat(LARGE_STRING_CHARS - 1) },
    'a large string after many small values': { list: Array.from({ length: 1000 }, (_, i) => `v${i}`), big: ascii },
    'a string holding what a marker looks like': { m: '\u0000' + 'x', big: ascii },
    'no large string': { a: 1, b: 'small', c: [1, 2, 3] }
  }
  for (const [name, value] of Object.entries(values)) {
    it(`writes JSON.stringify's bytes: ${name}`, () => {
      const got = stringifyJsonBytes(value)
      const want = JSON.stringify(value)
      assert.equal(typeof got === 'string' ? got : got?.toString('utf8'), want)
      if (Buffer.isBuffer(got)) assert.ok(got.equals(Buffer.from(want, 'utf8')))
    })
  }

  it('writes large strings into the buffer it is given, and keeps small values a string', () => {
    let asked = -1
    const out = stringifyJsonBytes({ a: ascii }, n => { asked = n; return Buffer.allocUnsafe(n) })
    assert.ok(Buffer.isBuffer(out))
    assert.equal(asked, out.length)
    assert.equal(typeof stringifyJsonBytes({ a: 'small' }), 'string')
    assert.equal(stringifyJsonBytes(undefined), undefined)
  })

  it('throws what JSON.stringify throws', () => {
    const cyclic: Record<string, unknown> = { big: ascii }
    cyclic.self = cyclic
    assert.throws(() => stringifyJsonBytes(cyclic), TypeError)
    assert.throws(() => stringifyJsonBytes({ big: ascii, n: 1n }), TypeError)
  })

  it('round-trips through parseJsonBytes', () => {
    const value = { task_id: 't', payload: { data: ascii, more: [utf8, 'x'] } }
    const bytes = stringifyJsonBytes(value)
    assert.ok(Buffer.isBuffer(bytes))
    assert.deepEqual(parseJsonBytes(bytes), value)
  })
})

describe('large-string JSON paths against JSON.parse and JSON.stringify, randomised', () => {
  const pieces = ['a', 'z', ' ', '0', 'é', '€', '😀', '"', '\\', '\n', '\u0001', '\u001f', '\u2028', '\ud800', '/', '\u0000']

  function randomString (r: () => number, large: boolean): string {
    const plain = r() < 0.6
    const n = large ? LARGE_STRING_CHARS + Math.floor(r() * 4000) : Math.floor(r() * 20)
    if (plain) return 'q'.repeat(n)
    let s = 'p'.repeat(Math.floor(n * r()))
    while (s.length < n) s += r() < 0.97 ? 'abc' : pieces[Math.floor(r() * pieces.length)] as string
    return s
  }

  function randomValue (r: () => number, depth: number): unknown {
    const k = r()
    if (depth > 3 || k < 0.3) return randomString(r, r() < 0.4)
    if (k < 0.4) return Math.floor(r() * 1000) - 500
    if (k < 0.45) return r() < 0.5 ? null : r() < 0.5
    if (k < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1))
    const o: Record<string, unknown> = {}
    for (let i = Math.floor(r() * 4); i > 0; i--) o[randomString(r, r() < 0.05)] = randomValue(r, depth + 1)
    return o
  }

  it('stringifies 200 random values to JSON.stringify\'s bytes and parses them back to JSON.parse\'s value', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const value = randomValue(prng(seed), 0)
      const want = JSON.stringify(value)
      const got = stringifyJsonBytes(value)
      assert.equal(Buffer.isBuffer(got) ? got.toString('utf8') : got, want, `seed ${seed}`)
      const bytes = Buffer.from(want, 'utf8')
      assert.deepEqual(ours(bytes), reference(bytes), `seed ${seed}`)
    }
  })

  it('gives JSON.parse\'s value or error for 300 documents with a byte changed', () => {
    const alphabet = Buffer.from('"\\{}[],: \n\u0001x0eE-+.tfn')
    for (let seed = 1; seed <= 300; seed++) {
      const r = prng(seed)
      const doc = Buffer.from(JSON.stringify({ a: randomValue(r, 1), big: 'w'.repeat(LARGE_JSON_BYTES), b: [randomString(r, true)] }), 'utf8')
      const at = Math.floor(r() * doc.length)
      doc[at] = alphabet[Math.floor(r() * alphabet.length)] as number
      assert.deepEqual(ours(doc), reference(doc), `seed ${seed}, byte ${at}`)
    }
  })
})
