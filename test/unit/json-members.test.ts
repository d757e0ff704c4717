/**
 * The bounded JSON scan (src/http/json-members.ts) agrees with JSON.parse: on hand-picked
 * documents and on a fixed-seed set of mutations, it accepts exactly what JSON.parse accepts
 * (apart from raw control characters inside strings, documented), and finds the same last
 * top-level members.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { jsonNames, jsonStringAt, scanJson, MAX_JSON_DEPTH } from '../../src/http/json-members.ts'

const NAMES = jsonNames(['task_id', 'error', 'result'])

function parses (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function scans (b: Buffer): boolean {
  try {
    scanJson(b, NAMES)
    return true
  } catch (err) {
    assert.ok(err instanceof SyntaxError)
    return false
  }
}

/** Asserts the scan's verdict and members match JSON.parse's for `text`. */
function agree (text: string): void {
  const b = Buffer.from(text, 'utf8')
  const ok = parses(text)
  assert.equal(scans(b), ok, text)
  if (!ok) return
  const value = JSON.parse(text) as unknown
  const scan = scanJson(b, NAMES)
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
  assert.equal(scan.isObject, isObject, text)
  if (!isObject) return
  const obj = value as Record<string, unknown>
  assert.equal(scan.members >= Object.keys(obj).length, true)
  NAMES.names.forEach((name, k) => {
    const span = scan.spans[k]
    assert.equal(span !== undefined, Object.hasOwn(obj, name), `${text}: ${name}`)
    if (span !== undefined) assert.deepEqual(JSON.parse(b.toString('utf8', span.start, span.end)), obj[name], `${text}: ${name}`)
  })
}

const VALID = [
  '{}', ' { } ', '[]', '0', '-0.5e+10', '"s"', 'true', 'null', '{"a":[1,{"b":[]},"c"],"task_id":"t"}',
  '{"task_id":"a","task_id":"b"}', '{"t\\u0061sk_id":"x\\"y"}', '{"error":null,"result":{"error":1}}',
  '{"x":{"task_id":"inner"}}', '{"a":"\\ud800","b":"é","c":"\\\\","d":"\\/"}', '{"error":[],"n":-12.25E-3}',
  '\n\t{ "result" : false }\r\n', '[[[[]]]]', '{"a":{"b":{"c":{}}}}', '{"":1}'
]
const INVALID = [
  '', ' ', '{', '}', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '{,}', '{"a":1 "b":2}', '{"a":01}', '{"a":1.}', '{"a":.5}',
  '{"a":1e}', '{"a":-}', '{"a":tru}', '{"a":nul}', '{"a":"x}', '{"a":"\\x"}', '{"a":"\\u12"}', '{"a":1}}', '{"a":1}x',
  '[1 2]', '{a:1}', "{'a':1}", '{"a":[}', '{"a":{]}', 'truex', '"\\"', '{"a":"\\', '{"a":+1}', '{"a":NaN}', '[', '{"a":1,"b"'
]

/** Deterministic pseudo-random generator (mulberry32). */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('scanJson', () => {
  it('agrees with JSON.parse on valid and invalid documents', () => {
    for (const text of [...VALID, ...INVALID]) agree(text)
  })

  it('agrees with JSON.parse on 20,000 single-byte mutations of valid documents', () => {
    const next = rng(13)
    // No control characters: raw ones inside strings are the documented difference.
    const alphabet = '{}[]":,\\ u0123456789-+.eEtruefalsn'
    for (let n = 0; n < 20_000; n++) {
      const base = VALID[Math.floor(next() * VALID.length)] as string
      const at = Math.floor(next() * (base.length + 1))
      const op = next()
      const ch = alphabet[Math.floor(next() * alphabet.length)] as string
      const text = op < 0.4 ? base.slice(0, at) + ch + base.slice(at) : op < 0.7 ? base.slice(0, at) + base.slice(at + 1) : base.slice(0, at) + ch + base.slice(at + 1)
      agree(text)
    }
  })

  it('does not look for raw control characters inside strings (the documented difference)', () => {
    assert.equal(parses('{"a":"x\ny"}'), false)
    assert.equal(scans(Buffer.from('{"a":"x\ny"}')), true)
  })

  it('refuses nesting deeper than MAX_JSON_DEPTH', () => {
    assert.equal(scans(Buffer.from('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))), true)
    assert.equal(scans(Buffer.from('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))), false)
  })

  it('jsonStringAt decodes escaped and plain strings and ignores other values', () => {
    const b = Buffer.from('{"task_id":"a\\u00e9\\n","error":"plain","result":1}')
    const scan = scanJson(b, NAMES)
    assert.equal(jsonStringAt(b, scan.spans[0]), 'aé\n')
    assert.equal(jsonStringAt(b, scan.spans[1]), 'plain')
    assert.equal(jsonStringAt(b, scan.spans[2]), undefined)
    assert.equal(jsonStringAt(b, undefined), undefined)
  })

  it('scans a body with a 16 MiB string member (strings are skipped with indexOf)', () => {
    const b = Buffer.from(JSON.stringify({ task_id: 't', payload: 'x'.repeat(16 * 1024 * 1024) }))
    const scan = scanJson(b, NAMES)
    assert.equal(jsonStringAt(b, scan.spans[0]), 't')
  })
})
