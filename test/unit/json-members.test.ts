/**
 * The bounded JSON scan (src/http/json-members.ts) agrees with JSON.parse: on hand-picked
 * documents and on a fixed-seed set of mutations, it accepts exactly what JSON.parse accepts
 * (apart from raw control characters inside strings, documented), and finds the same last
 * top-level members; and the streaming scanner (src/http/json-scanner.ts) gives the same verdict
 * and spans for the same document split into chunks at every byte.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { JsonScanner, jsonNames, jsonStringAt, scanJson, MAX_JSON_DEPTH, type JsonScan } from '../../src/http/json-members.ts'

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

/** The streaming scan of `parts`, or the SyntaxError it threw. */
function scanParts (parts: Buffer[]): JsonScan | SyntaxError {
  const scanner = new JsonScanner(NAMES)
  try {
    for (const p of parts) scanner.push(p)
    return scanner.end()
  } catch (err) {
    assert.ok(err instanceof SyntaxError)
    return err
  }
}

/** Asserts the streaming scan of `b` split in two at every byte (and in three at `extra`) matches the one-buffer scan. */
function agreeSplit (b: Buffer, extra: number): void {
  let whole: JsonScan | SyntaxError
  try {
    whole = scanJson(b, NAMES)
  } catch (err) {
    whole = err as SyntaxError
  }
  const want = whole instanceof SyntaxError ? 'error' : JSON.stringify(whole)
  for (let at = 0; at <= b.length; at++) {
    const cut = Math.min(b.length, at + extra)
    const got = scanParts([b.subarray(0, at), b.subarray(at, cut), b.subarray(cut)])
    assert.equal(got instanceof SyntaxError ? 'error' : JSON.stringify(got), want, `${b.toString()} split at ${at} and ${cut}`)
  }
}

/** Asserts the scan's verdict and members match JSON.parse's for `text`, whole and in chunks. */
function agree (text: string, extra = 1): void {
  const b = Buffer.from(text, 'utf8')
  const ok = parses(text)
  assert.equal(scans(b), ok, text)
  agreeSplit(b, extra)
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
    for (const text of [...VALID, ...INVALID]) for (let extra = 0; extra < 8; extra++) agree(text, extra)
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
      agree(text, n % 7)
    }
  })

  it('does not look for raw control characters inside strings (the documented difference)', () => {
    assert.equal(parses('{"a":"x\ny"}'), false)
    assert.equal(scans(Buffer.from('{"a":"x\ny"}')), true)
  })

  it('refuses nesting deeper than MAX_JSON_DEPTH', () => {
    assert.equal(scans(Buffer.from('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))), true)
    assert.equal(scans(Buffer.from('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))), false)
    const deep = Buffer.from('['.repeat(MAX_JSON_DEPTH + 1))
    assert.ok(scanParts([deep.subarray(0, 500), deep.subarray(500)]) instanceof SyntaxError)
  })

  it('streams: a key split inside an escape still matches, a long key is not kept, positions count from the first byte', () => {
    const b = Buffer.from('{"t\\u0061sk_id":"x","error":null}')
    for (let at = 0; at <= b.length; at++) {
      const scan = scanParts([b.subarray(0, at), b.subarray(at)])
      assert.ok(!(scan instanceof SyntaxError))
      assert.deepEqual(scan.spans[0], { start: 16, end: 19, first: 0x22 }, `split at ${at}`)
      assert.deepEqual(scan.spans[1], { start: 28, end: 32, first: 0x6e })
    }
    const long = Buffer.from(`{"${'k'.repeat(100_000)}":1,"task_id":"t"}`)
    const parts = Array.from({ length: Math.ceil(long.length / 1000) }, (_, k) => long.subarray(k * 1000, (k + 1) * 1000))
    const scan = scanParts(parts)
    assert.ok(!(scan instanceof SyntaxError))
    assert.equal(scan.members, 2)
    assert.equal(jsonStringAt(long, scan.spans[0]), 't')
    const bad = scanParts([Buffer.from('{"a":[1,'), Buffer.from('2,}')])
    assert.ok(bad instanceof SyntaxError)
    assert.match(bad.message, /position 10$/)
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
    const parts = Array.from({ length: Math.ceil(b.length / 65_536) }, (_, k) => b.subarray(k * 65_536, (k + 1) * 65_536))
    assert.deepEqual(scanParts(parts), scan)
  })
})
