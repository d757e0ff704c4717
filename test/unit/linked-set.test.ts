/** LinkedSet (src/linked-set.ts): the in-flight sets of the relay's HTTP front and the worker's task runner. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LinkedSet } from '../../src/linked-set.ts'

describe('LinkedSet', () => {
  it('keeps insertion order and size through deletes at the head, middle and tail', () => {
    const set = new LinkedSet<string>()
    const nodes = ['a', 'b', 'c', 'd', 'e'].map(v => set.add(v))
    assert.equal(set.size, 5)
    const [a, , c, , e] = nodes
    assert.ok(a !== undefined && c !== undefined && e !== undefined)
    assert.equal(set.delete(c), true)
    assert.equal(set.delete(a), true)
    assert.equal(set.delete(e), true)
    assert.deepEqual(set.toArray(), ['b', 'd'])
    assert.equal(set.size, 2)
    set.add('f')
    assert.deepEqual(set.toArray(), ['b', 'd', 'f'])
  })

  it('ignores a second delete of the same entry, and can be emptied and refilled', () => {
    const set = new LinkedSet<number>()
    const one = set.add(1)
    assert.equal(set.delete(one), true)
    assert.equal(set.delete(one), false)
    assert.equal(set.size, 0)
    assert.deepEqual(set.toArray(), [])
    const two = set.add(2)
    set.add(3)
    assert.equal(set.delete(one), false)
    assert.deepEqual(set.toArray(), [2, 3])
    set.delete(two)
    assert.deepEqual(set.toArray(), [3])
  })

  it('gives a snapshot that stays whole while its entries are deleted', () => {
    const set = new LinkedSet<number>()
    const nodes = [1, 2, 3, 4].map(v => set.add(v))
    const seen: number[] = []
    for (const v of set.toArray()) {
      seen.push(v)
      for (const n of nodes) set.delete(n)
    }
    assert.deepEqual(seen, [1, 2, 3, 4])
    assert.equal(set.size, 0)
  })
})
