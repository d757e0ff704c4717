/** Call ids (src/protocol/call-id.ts): random UUIDv4 strings, as upstream relays send in CALL key 15. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { newCallId } from '../../src/protocol/call-id.ts'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('newCallId', () => {
  it('gives UUIDv4 strings, all different, across refills of its entropy pool', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 5_000; i++) {
      const id = newCallId()
      assert.match(id, UUID_V4)
      ids.add(id)
    }
    assert.equal(ids.size, 5_000)
  })

  it('varies every random hex digit (version and variant fixed)', () => {
    const seen = Array.from({ length: 36 }, () => new Set<string>())
    for (let i = 0; i < 2_000; i++) {
      const id = newCallId()
      for (let c = 0; c < 36; c++) seen[c]?.add(id[c] as string)
    }
    for (let c = 0; c < 36; c++) {
      const size = seen[c]?.size ?? 0
      if ([8, 13, 18, 23].includes(c)) assert.equal(size, 1, `dash at ${c}`)
      else if (c === 14) assert.equal(size, 1, 'version digit')
      else if (c === 19) assert.equal(size, 4, 'variant digit: 8, 9, a, b')
      else assert.equal(size, 16, `digit ${c}`)
    }
  })
})
