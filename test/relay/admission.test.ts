/**
 * RELAY_BIND admission (checklist 10-17): tickets, the alive check, the per-IP bind rate,
 * capacity and replay, in the exact upstream order, with byte-exact RELAY_ACK errors and EOF.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { MsgType } from '../../src/protocol/frame.ts'
import { encodeRelayAckError } from '../../src/protocol/messages.ts'
import { BIND_REJECT_REASONS } from '../../relay/index.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { http, startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { PeerBindOptions } from '../helpers/relay-peer.ts'
import { TEST_NOW_MS, TEST_NOW_S, TICKET_PUBLIC_KEY, ticketFor } from '../helpers/relay-tickets.ts'

const STRICT = { requireTicket: true, ticketPublicKey: TICKET_PUBLIC_KEY, now: () => TEST_NOW_MS }

/** Binds and expects a refusal with `reason`: the exact RELAY_ACK error frame, then EOF within 1 s. */
async function expectRefused (h: RelayHarness, workerId: string, reason: string, options: PeerBindOptions = {}, localAddress?: string): Promise<void> {
  const p = await h.peer(localAddress)
  const ack = await p.bind(workerId, options)
  assert.deepEqual(ack, { ok: false, workerId, reason })
  await p.expectClosed(1000)
  const expected = encodeRelayAckError(workerId, reason)
  assert.deepEqual(p.received.subarray(p.received.length - expected.length), expected)
}

async function expectBound (h: RelayHarness, workerId: string, options: PeerBindOptions = {}, localAddress?: string): Promise<void> {
  const p = await h.peer(localAddress)
  const ack = await p.bind(workerId, options)
  assert.equal(ack.ok, true, ack.ok ? '' : ack.reason)
}

/** Waits until `workerId` is no longer served by relay-for health (its session is gone). */
async function waitGone (h: RelayHarness, workerId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await http(h.httpPort, `/v1/relay-for/${workerId}/iicp/health`)).status === 404) return
    await delay(10)
  }
  throw new Error(`${workerId} still bound`)
}

describe('bind tickets', () => {
  it('10: strict mode without a ticket gets "relay bind ticket required", then EOF', async () => {
    const h = await startRelay(STRICT)
    try {
      await expectRefused(h, 'w1', 'relay bind ticket required')
      assert.equal(h.relay.sessionCount, 0)
    } finally {
      await h.close()
    }
  })

  it('10: strict mode with a ticket but no configured key is "required" (Python/TS, not Rust\'s hole)', async () => {
    const h = await startRelay({ requireTicket: true })
    try {
      await expectRefused(h, 'w1', 'relay bind ticket required', { ticket: ticketFor('w1') })
      // The upstream vector RELAY_BIND with ticket "T" as well.
      const p = await h.peer()
      await p.init()
      p.sendRaw(relayFrame('RELAY_BIND with ticket'))
      const f = await p.nextFrame()
      assert.equal(f.type, MsgType.RelayAck)
      await p.expectClosed(1000)
      assert.deepEqual(p.received.subarray(15), encodeRelayAckError('w1', 'relay bind ticket required'))
    } finally {
      await h.close()
    }
  })

  it('11: every failed ticket check gets "relay bind ticket invalid", then EOF', async () => {
    const h = await startRelay({ ...STRICT, nodeId: 'relay-1' })
    try {
      const good = ticketFor('w1')
      const flipped = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0')
      const bad: Array<[string, string]> = [
        ['wrong sub', ticketFor('someone-else')],
        ['wrong aud', ticketFor('w1', { aud: 'relay-2' })],
        ['exp == now', ticketFor('w1', { exp: TEST_NOW_S })],
        ['exp < now', ticketFor('w1', { exp: TEST_NOW_S - 1 })],
        ['uppercase jti', ticketFor('w1', { jti: 'ABCDEF0123456789ABCDEF0123456789' })],
        ['short jti', ticketFor('w1', { jti: '0123456789abcdef' })],
        ['bad signature', flipped],
        ['wrong typ', ticketFor('w1', { typ: 'relay-ticket' })],
        ['exp as a string', ticketFor('w1', { exp: String(TEST_NOW_S + 300) })],
        ['garbage', 'not-a-ticket']
      ]
      for (const [why, ticket] of bad) {
        await expectRefused(h, 'w1', 'relay bind ticket invalid', { ticket }).catch((err: Error) => {
          throw new Error(`${why}: ${err.message}`)
        })
      }
      assert.equal(h.relay.sessionCount, 0)
    } finally {
      await h.close()
    }
  })

  it('11: a bad ticket is "invalid" even in compatibility mode when a key is configured', async () => {
    const h = await startRelay({ ticketPublicKey: TICKET_PUBLIC_KEY, now: () => TEST_NOW_MS })
    try {
      await expectRefused(h, 'w1', 'relay bind ticket invalid', { ticket: ticketFor('w2') })
      await expectBound(h, 'w1')
    } finally {
      await h.close()
    }
  })

  it('12: a valid ticket with aud "*" or aud = node id binds; by default only "*" is accepted', async () => {
    const h = await startRelay({ ...STRICT, nodeId: 'relay-1' })
    const dflt = await startRelay(STRICT)
    try {
      await expectBound(h, 'w-star', { ticket: ticketFor('w-star') })
      await expectBound(h, 'w-aud', { ticket: ticketFor('w-aud', { aud: 'relay-1' }) })
      await expectRefused(dflt, 'w-aud', 'relay bind ticket invalid', { ticket: ticketFor('w-aud', { aud: 'relay-1' }) })
      await expectBound(dflt, 'w-star', { ticket: ticketFor('w-star') })
    } finally {
      await h.close()
      await dflt.close()
    }
  })

  it('12: re-using a ticket after its session ended gets "relay bind ticket replayed"', async () => {
    const h = await startRelay(STRICT)
    try {
      const ticket = ticketFor('w1')
      const p = await h.peer()
      assert.equal((await p.bind('w1', { ticket })).ok, true)
      await p.end()
      await waitGone(h, 'w1')
      await expectRefused(h, 'w1', 'relay bind ticket replayed', { ticket })
      await expectBound(h, 'w1', { ticket: ticketFor('w1') })
    } finally {
      await h.close()
    }
  })

  it('12: a ticket refused for an alive session, the rate limit or capacity is not consumed', async () => {
    // Every refused attempt counts toward the bind rate (issue 7.4), so the alive refusal is the second of 3.
    const h = await startRelay({ ...STRICT, bindRateLimit: 3, bindRateWindowMs: 600, maxSessions: 1 })
    try {
      // Alive: A holds w1; B's ticket is refused but stays usable.
      const a = await h.peer()
      assert.equal((await a.bind('w1', { ticket: ticketFor('w1') })).ok, true)
      const tB = ticketFor('w1')
      await expectRefused(h, 'w1', BIND_REJECT_REASONS.already_bound, { ticket: tB })
      // Capacity: w2 cannot bind while w1 holds the only slot.
      const t2 = ticketFor('w2')
      await expectRefused(h, 'w2', BIND_REJECT_REASONS.capacity, { ticket: t2 })
      // Rate: this fourth attempt from 127.0.0.1 in the window is over the limit of 3.
      await expectRefused(h, 'w2', BIND_REJECT_REASONS.rate_limited, { ticket: t2 })
      await a.end()
      await waitGone(h, 'w1')
      await delay(650) // let the 600 ms rate window pass
      await expectBound(h, 'w1', { ticket: tB })
    } finally {
      await h.close()
    }
    const h2 = await startRelay({ ...STRICT, bindRateLimit: 1, bindRateWindowMs: 600 })
    try {
      const t = ticketFor('w2')
      await expectBound(h2, 'w1', { ticket: ticketFor('w1') })
      await expectRefused(h2, 'w2', BIND_REJECT_REASONS.rate_limited, { ticket: t })
      await delay(650)
      await expectBound(h2, 'w2', { ticket: t })
    } finally {
      await h2.close()
    }
  })
})

describe('alive check, rate limit and capacity', () => {
  it('13: binding an alive worker id is refused (the captured upstream frame) and A keeps receiving CALLs', async () => {
    const h = await startRelay()
    try {
      const a = await h.worker('w-echo-1')
      a.serve(task => ({ result: { echo: task } }))
      const p = await h.peer()
      await p.bind('w-echo-1')
      await p.expectClosed(1000)
      assert.equal(p.received.subarray(15).toString('hex'), relayFrame('RELAY_ACK error `{1:"error",2:"w-echo-1"').toString('hex'))
      const ans = await http(h.httpPort, '/v1/relay-for/w-echo-1/v1/task', { body: { task_id: 't-1', payload: { q: 1 } } })
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't-1', status: 'completed', result: { echo: { task_id: 't-1', payload: { q: 1 } } } })
    } finally {
      await h.close()
    }
  })

  it('14: after A closes (FIN), a new bind for the same worker id succeeds within 1 s', async () => {
    const h = await startRelay()
    try {
      const a = await h.worker('w1')
      const closedAt = performance.now()
      await a.end()
      await expectBound(h, 'w1')
      assert.ok(performance.now() - closedAt < 1000)
    } finally {
      await h.close()
    }
  })

  it('16: with a bind rate limit of 1, a second new-worker bind from the same IP is rate limited; other IPs are not', async () => {
    const h = await startRelay({ bindRateLimit: 1 })
    try {
      await expectBound(h, 'w1', {}, '127.0.0.1')
      await expectRefused(h, 'w2', 'relay_bind_rate_limited', {}, '127.0.0.1')
      await expectBound(h, 'w3', {}, '127.0.0.2')
    } finally {
      await h.close()
    }
  })

  it('16: a rebind of a registered dead worker id from the same IP is exempt from the rate limit', async () => {
    // Idle sessions are dead but stay registered until the (here: slow) sweep removes them.
    const h = await startRelay({ bindRateLimit: 1, idleTimeoutMs: 150, sweepIntervalMs: 60_000 })
    try {
      const a = await h.worker('w1')
      await delay(200)
      await expectBound(h, 'w1')
      await a.expectClosed(1000) // the dead session was replaced and closed
      await expectRefused(h, 'w2', 'relay_bind_rate_limited')
    } finally {
      await h.close()
    }
  })

  it('16: attempts refused after the limiter (here: capacity) count toward the rate limit, and the window restarts', async () => {
    const h = await startRelay({ bindRateLimit: 2, bindRateWindowMs: 600, maxSessions: 1 })
    try {
      const a = await h.worker('w1')
      await expectRefused(h, 'w2', BIND_REJECT_REASONS.capacity)
      await a.end()
      await waitGone(h, 'w1')
      await expectRefused(h, 'w3', BIND_REJECT_REASONS.rate_limited)
      await delay(650)
      await expectBound(h, 'w3')
    } finally {
      await h.close()
    }
  })

  it('17: with 256 sessions bound a new worker id gets "relay at session capacity"; a rebind of a dead id succeeds', async () => {
    const h = await startRelay({ maxSessions: 256, bindRateLimit: 0, idleTimeoutMs: 1000, sweepIntervalMs: 60_000 })
    try {
      const peers = []
      for (let i = 0; i < 256; i++) peers.push(await h.worker(`w${i}`))
      assert.equal(h.relay.sessionCount, 256)
      await expectRefused(h, 'w-new', 'relay at session capacity')
      await expectRefused(h, 'w255', 'worker_id already bound to an alive session')
      await delay(1050) // every session is now idle past the timeout: dead, still registered
      await expectBound(h, 'w7')
      await expectRefused(h, 'w-new', 'relay at session capacity')
      assert.equal(h.relay.sessionCount, 256)
    } finally {
      await h.close()
    }
  })

  it('17: the capacity refusal for "w1" matches the upstream vector byte for byte', async () => {
    const h = await startRelay({ maxSessions: 1 })
    try {
      await h.worker('other')
      const p = await h.peer()
      await p.bind('w1')
      await p.expectClosed(1000)
      assert.equal(p.received.subarray(15).toString('hex'), relayFrame('RELAY_ACK error (capacity)').toString('hex'))
    } finally {
      await h.close()
    }
  })

  it('checks run in the upstream order: ticket, alive, rate, capacity, replay', async () => {
    const h = await startRelay({ ...STRICT, bindRateLimit: 1, maxSessions: 1 })
    try {
      await expectBound(h, 'w1', { ticket: ticketFor('w1') })
      // ticket before alive
      await expectRefused(h, 'w1', BIND_REJECT_REASONS.ticket_invalid, { ticket: ticketFor('w2') })
      // alive before rate (the rate limit of 1 is used up)
      await expectRefused(h, 'w1', BIND_REJECT_REASONS.already_bound, { ticket: ticketFor('w1') })
      // rate before capacity
      await expectRefused(h, 'w2', BIND_REJECT_REASONS.rate_limited, { ticket: ticketFor('w2') })
    } finally {
      await h.close()
    }
    const h2 = await startRelay({ ...STRICT, maxSessions: 1 })
    try {
      const used = ticketFor('w2')
      const first = await h2.peer()
      assert.equal((await first.bind('w2', { ticket: used })).ok, true)
      await first.end()
      await waitGone(h2, 'w2')
      const holder = await h2.peer()
      assert.equal((await holder.bind('w1', { ticket: ticketFor('w1') })).ok, true)
      // capacity before replay: the used ticket at capacity is refused for capacity
      await expectRefused(h2, 'w2', BIND_REJECT_REASONS.capacity, { ticket: used })
      await holder.end()
      await waitGone(h2, 'w1')
      await expectRefused(h2, 'w2', BIND_REJECT_REASONS.replayed, { ticket: used })
    } finally {
      await h2.close()
    }
  })
})
