/** Unit tests: the shared rate limiters and their three policies (src/rate-limit.ts). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createFixedWindowLimiter, createTokenBucketLimiter, type FixedWindowLimiter } from '../../src/rate-limit.ts'

function bindLimiter (o: { limit: number, windowMs: number, pruneAt?: number, maxKeys?: number }): FixedWindowLimiter {
  return createFixedWindowLimiter({ maxKeys: 65_536, pruneAt: 4096, ...o, whenFull: 'evict-oldest' })
}

describe('fixed window, evict-oldest (relay binds)', () => {
  it('allows `limit` attempts per fixed window from the first attempt; 0 disables', () => {
    const rl = bindLimiter({ limit: 2, windowMs: 1000 })
    assert.deepEqual([rl.hit('a', 0).allowed, rl.hit('a', 10).allowed, rl.hit('a', 20).allowed, rl.hit('b', 20).allowed], [true, true, false, true])
    assert.equal(rl.hit('a', 999).allowed, false, 'still the same window')
    assert.equal(rl.hit('a', 1000).allowed, true, 'a new window starts')
    const off = bindLimiter({ limit: 0, windowMs: 1000 })
    for (let i = 0; i < 100; i++) assert.equal(off.hit('a', 0).allowed, true)
    assert.equal(off.size, 0)
  })

  it('keeps its bucket map bounded: prunes expired windows, then drops the oldest', () => {
    const rl = bindLimiter({ limit: 1, windowMs: 100, pruneAt: 10, maxKeys: 20 })
    for (let i = 0; i < 10; i++) rl.hit(`ip${i}`, 0)
    rl.hit('late', 200)
    assert.equal(rl.size, 1, 'the expired ten were pruned')
    for (let i = 0; i < 100; i++) rl.hit(`x${i}`, 250)
    assert.ok(rl.size <= 20)
    assert.equal(rl.hit('x99', 260).allowed, false, 'the newest buckets are kept')
  })
})

describe('fixed window, refuse-when-full (reflector)', () => {
  it('refuses a new source while the table is full of live windows, and says how long to wait', () => {
    const rl = createFixedWindowLimiter({ limit: 1, windowMs: 1000, maxKeys: 2, whenFull: 'refuse' })
    assert.equal(rl.hit('a', 0).allowed, true)
    assert.equal(rl.hit('b', 0).allowed, true)
    assert.deepEqual(rl.hit('c', 10), { allowed: false, reason: 'table_full' })
    assert.deepEqual(rl.hit('a', 400), { allowed: false, reason: 'over_limit', retryAfterMs: 600 })
    assert.equal(rl.hit('c', 1000).allowed, true, 'expired windows make room')
  })
})

describe('token bucket (STUN)', () => {
  it('allows a burst, then the sustained rate; forgets the least recently seen source', () => {
    let t = 0
    const tb = createTokenBucketLimiter({ perSecond: 10, burst: 2, maxKeys: 1 }, () => t)
    assert.deepEqual([tb.take('a'), tb.take('a'), tb.take('a')], [true, true, false])
    t = 100
    assert.equal(tb.take('a'), true, 'one token back after 100 ms')
    assert.equal(tb.take('b'), true)
    assert.equal(tb.take('a'), true, 'a was forgotten and starts with a full bucket')
  })
})
