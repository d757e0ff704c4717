/**
 * Issue 7, defects 4 (tickets) and 9 (rate-limit bookkeeping): replay across a relay restart,
 * tickets valid for years or issued in the future, an unthrottled stream of bad tickets, and a
 * worker that closed cleanly coming back to its id.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BIND_REJECT_REASONS } from '../../relay/index.ts'
import { verifyBindTicket } from '../../src/protocol/bind-ticket.ts'
import { startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { PeerBindOptions } from '../helpers/relay-peer.ts'
import { TEST_NOW_MS, TEST_NOW_S, TICKET_PUBLIC_KEY, ticketFor } from '../helpers/relay-tickets.ts'

const STRICT = { requireTicket: true, ticketPublicKey: TICKET_PUBLIC_KEY }

async function bindOutcome (h: RelayHarness, workerId: string, options: PeerBindOptions = {}): Promise<string> {
  const p = await h.peer()
  const ack = await p.bind(workerId, options)
  if (ack.ok) return 'ok'
  await p.expectClosed(1000)
  return ack.reason
}

describe('attack: tickets (issue 7.4)', () => {
  it('a ticket used before a relay restart is refused by the restarted relay', async () => {
    const ticket = ticketFor('w1')
    const first = await startRelay({ ...STRICT, now: () => TEST_NOW_MS })
    try {
      assert.equal(await bindOutcome(first, 'w1', { ticket }), 'ok')
    } finally {
      await first.close()
    }
    // The same process clock 5 s later: the new relay's replay cache is empty.
    const restarted = await startRelay({ ...STRICT, now: () => TEST_NOW_MS + 5000 })
    try {
      assert.equal(await bindOutcome(restarted, 'w1', { ticket }), BIND_REJECT_REASONS.ticket_invalid)
      // A fresh ticket from the directory binds.
      assert.equal(await bindOutcome(restarted, 'w1', { ticket: ticketFor('w1', { iat: TEST_NOW_S + 5, exp: TEST_NOW_S + 125 }) }), 'ok')
    } finally {
      await restarted.close()
    }
  })

  it('refuses a ticket valid until 9999 and one issued in 3000', async () => {
    const h = await startRelay({ ...STRICT, now: () => TEST_NOW_MS })
    try {
      assert.equal(await bindOutcome(h, 'w1', { ticket: ticketFor('w1', { exp: 253402300799 }) }), BIND_REJECT_REASONS.ticket_invalid)
      assert.equal(await bindOutcome(h, 'w2', { ticket: ticketFor('w2', { iat: 32503680000, exp: 32503680120 }) }), BIND_REJECT_REASONS.ticket_invalid)
      // The directory's own shape (exp = iat + 120) with 30 s of clock skew either way binds.
      assert.equal(await bindOutcome(h, 'w3', { ticket: ticketFor('w3', { iat: TEST_NOW_S + 30, exp: TEST_NOW_S + 150 }) }), 'ok')
    } finally {
      await h.close()
    }
  })

  it('says why at the verifier: lifetime, future iat, issued before start', () => {
    const opts = { publicKeyHex: TICKET_PUBLIC_KEY, workerId: 'w1', audience: '*', nowSeconds: TEST_NOW_S, maxLifetimeSeconds: 120, clockSkewSeconds: 30, issuedNotBeforeSeconds: TEST_NOW_S }
    const why = (t: string): string => { const v = verifyBindTicket(t, opts); return v.ok ? 'ok' : v.reason }
    assert.equal(why(ticketFor('w1', { exp: TEST_NOW_S + 1000 })), 'lifetime_too_long')
    assert.equal(why(ticketFor('w1', { iat: TEST_NOW_S + 100, exp: TEST_NOW_S + 140 })), 'issued_in_future')
    assert.equal(why(ticketFor('w1', { iat: TEST_NOW_S - 1 })), 'issued_before_start')
    assert.equal(why(ticketFor('w1')), 'ok')
  })

  it('throttles a source that keeps sending invalid tickets (refusals count toward the bind rate)', async () => {
    const h = await startRelay({ ...STRICT, now: () => TEST_NOW_MS, bindRateLimit: 5 })
    try {
      const outcomes: string[] = []
      for (let i = 0; i < 8; i++) outcomes.push(await bindOutcome(h, `w${i}`, { ticket: ticketFor('someone-else') }))
      assert.deepEqual(outcomes, [...Array<string>(5).fill(BIND_REJECT_REASONS.ticket_invalid), ...Array<string>(3).fill(BIND_REJECT_REASONS.rate_limited)])
    } finally {
      await h.close()
    }
  })
})

describe('attack: rate-limit bookkeeping (issue 7.9)', () => {
  it('a worker that closed cleanly re-binds its id from the same source without counting as a new worker', async () => {
    const h = await startRelay({ bindRateLimit: 2 })
    try {
      const a = await h.worker('w1')
      await h.worker('w2')
      // The limit of 2 is used up. w1 closes cleanly (its registry entry is removed) and comes back.
      await a.end()
      for (let i = 0; i < 3; i++) {
        const back = await h.peer()
        assert.equal((await back.bind('w1')).ok, true, `rebind ${i}`)
        await back.end()
      }
      assert.equal(await bindOutcome(h, 'w3'), BIND_REJECT_REASONS.rate_limited, 'a new worker id is still limited')
    } finally {
      await h.close()
    }
  })

  it('the exemption is for the same source only', async () => {
    const h = await startRelay({ bindRateLimit: 1 })
    try {
      const a = await h.peer('127.0.0.1')
      assert.equal((await a.bind('w1')).ok, true)
      await a.end()
      const b = await h.peer('127.0.0.2')
      assert.equal((await b.bind('w0')).ok, true)
      const other = await h.peer('127.0.0.2')
      assert.equal((await other.bind('w1')).ok, false, 'w1 was held by 127.0.0.1, not 127.0.0.2')
    } finally {
      await h.close()
    }
  })
})
