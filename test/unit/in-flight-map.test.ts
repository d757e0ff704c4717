/** InFlightMap (src/in-flight-map.ts): the relay's calls in flight by call id, and the fleet link's. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { InFlightMap, RENEW_EVERY_SETS } from '../../src/in-flight-map.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as (options: { type: 'minor' | 'major', execution: 'sync' }) => void
const minorGc = (): void => { gc({ type: 'minor', execution: 'sync' }) }
const oldSpaceUsed = (): number => getHeapSpaceStatistics().find(s => s.space_name === 'old_space')?.space_used_size ?? 0

/** What a churning map needs here: a plain Map or an InFlightMap. */
interface Churnable { set: (key: number, value: unknown) => unknown, delete: (key: number) => boolean }

/**
 * Ages `map` into the old generation (two young collections), then adds `sets` values of about
 * 1 KiB each with `live` of them in it at a time, deletes the rest, and returns how many bytes
 * the young collections after it promoted: the values still reachable from tables the map
 * dropped.
 */
function promotedByChurn (map: Churnable, sets: number, live: number): number {
  map.set(-1, {})
  map.delete(-1)
  minorGc()
  minorGc()
  const before = oldSpaceUsed()
  for (let i = 0; i < sets; i++) {
    map.set(i, { payload: new Array(120).fill(i) })
    if (i >= live) map.delete(i - live)
  }
  for (let i = Math.max(0, sets - live); i < sets; i++) map.delete(i)
  minorGc()
  minorGc()
  return oldSpaceUsed() - before
}

describe('InFlightMap', () => {
  it('keeps every entry and its insertion order across renewals, and deletes ones set before a renewal', () => {
    const map = new InFlightMap<string, number>()
    for (let i = 0; i < RENEW_EVERY_SETS * 3 + 5; i++) {
      map.set(`k${i}`, i)
      if (i % 2 === 1) assert.equal(map.delete(`k${i - 1}`), true)
    }
    assert.equal(map.size, RENEW_EVERY_SETS * 3 / 2 + 3)
    assert.equal(map.get('k1'), 1)
    assert.equal(map.has('k0'), false)
    assert.equal(map.delete('k0'), false)
    assert.equal(map.delete('k1'), true)
    map.set('k3', 33)
    assert.equal(map.get('k3'), 33)
    const all = map.takeAll()
    assert.equal(all[0], 33)
    assert.equal(all.length, RENEW_EVERY_SETS * 3 / 2 + 2)
    assert.equal(map.size, 0)
    assert.deepEqual(map.takeAll(), [])
  })

  it('lets entries it held die young: a long-lived map with calls coming and going promotes next to nothing', (t) => {
    const sets = 10_000
    const inFlight = promotedByChurn(new InFlightMap<number, unknown>(), sets, 64)
    const plain = promotedByChurn(new Map<number, unknown>(), sets, 64)
    t.diagnostic(`promoted by ${sets} values of ~1 KiB with 64 in the map at a time: InFlightMap ${Math.round(inFlight / 1024)} KiB, Map ${Math.round(plain / 1024)} KiB`)
    // All of them would be about 10 MiB; a plain Map in V8 13 promotes most of that.
    assert.ok(inFlight < 1024 * 1024, `InFlightMap promoted ${inFlight} bytes`)
  })
})
