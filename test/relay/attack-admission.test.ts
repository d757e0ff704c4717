/**
 * Issue 7, defect 3 (admission can be exhausted): unbound connections from many sources fill
 * every pending slot, and IPv6 sources rotate addresses within one /64. A new legitimate worker
 * must still bind, and IPv6 is counted per /64 for the pending cap and the bind rate.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { AcceptServer } from '../../relay/accept-server.ts'
import { admitBind, type AdmissionContext } from '../../relay/admission.ts'
import { createRelayMetrics } from '../../relay/metrics.ts'
import { resolveRelayOptions } from '../../relay/options.ts'
import { createReplayCache } from '../../relay/replay-cache.ts'
import { SessionRegistry } from '../../relay/session-registry.ts'
import { silentLogger } from '../../src/log.ts'
import { createFixedWindowLimiter, rateLimitSource } from '../../src/rate-limit.ts'
import { startRelay } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

/** A duplex that looks like a socket from `remoteAddress` (for sources loopback cannot provide). */
function fakeSocket (remoteAddress: string): PassThrough & { remoteAddress: string } {
  return Object.assign(new PassThrough(), { remoteAddress })
}

function admissionContext (bindRateLimit: number): AdmissionContext {
  const registry = new SessionRegistry()
  return {
    requireTicket: false,
    ticketPublicKey: undefined,
    audience: '*',
    maxSessions: 1000,
    registry,
    rateLimiter: createFixedWindowLimiter({ limit: bindRateLimit, windowMs: 60_000, maxKeys: 100, whenFull: 'evict-oldest' }),
    replayCache: createReplayCache(),
    now: Date.now,
    logger: silentLogger()
  }
}

describe('attack: admission exhaustion (issue 7.3)', () => {
  it('with every pending slot held by silent connections from 16 sources, a new worker binds at its first attempt', async () => {
    const h = await startRelay({ maxPendingConnections: 64, maxPendingConnectionsPerIp: 4 })
    try {
      const silent: RelayPeer[] = []
      for (let ip = 1; ip <= 16; ip++) {
        for (let k = 0; k < 4; k++) silent.push(await h.peer(`127.0.1.${ip}`))
      }
      const worker = await h.peer('127.0.2.1')
      const ack = await worker.bind('legit')
      assert.equal(ack.ok, true)
      // The slot came from the oldest silent connection.
      await silent[0]?.expectClosed(1000)
    } finally {
      await h.close()
    }
  })

  it('shortens the handshake deadline while the pending table is more than half full', async () => {
    const h = await startRelay({ maxPendingConnections: 16, maxPendingConnectionsPerIp: 16, sweepIntervalMs: 100 })
    try {
      const silent: RelayPeer[] = []
      for (let k = 0; k < 9; k++) silent.push(await h.peer())
      // The default deadline is 10 s; under pressure it is 2 s. Only the oldest is certain to
      // meet the pressure: once it is closed, 8 of 16 is no longer more than half full, and
      // connections opened a sweep later keep the normal deadline.
      await silent[0]?.expectClosed(5000)
    } finally {
      await h.close()
    }
  })

  it('counts IPv6 pending connections per /64: rotating addresses in one /64 shares one quota', async () => {
    const options = resolveRelayOptions({ maxPendingConnectionsPerIp: 4 })
    const registry = new SessionRegistry()
    const server = new AcceptServer({
      options,
      registry,
      admission: admissionContext(30),
      metrics: createRelayMetrics({ sessions: () => 0, pendingConnections: () => 0, maxSessions: 1 }),
      logger: silentLogger(),
      advertisedHttpPort: () => 9484
    })
    const sockets = [1, 2, 3, 4, 5].map(i => fakeSocket(`2001:db8:1:2::${i}`))
    for (const s of sockets) server.accept(s, 'tcp')
    assert.deepEqual(sockets.map(s => s.destroyed), [false, false, false, false, true])
    const other = fakeSocket('2001:db8:1:3::1')
    server.accept(other, 'tcp')
    assert.equal(other.destroyed, false, 'another /64 has its own quota')
    assert.equal(server.pendingCount, 5)
    await server.closeSessions(0)
  })

  it('counts new-worker binds per IPv6 /64', async () => {
    const ctx = admissionContext(2)
    const ips = ['2001:db8::1', '2001:db8::2', '2001:db8:0:0:ffff::3', '2001:db8::4']
    const outcomes = []
    for (const [i, ip] of ips.entries()) {
      const r = await admitBind(ctx, { workerId: `w${i}`, intent: '', models: [] }, ip)
      outcomes.push(r.ok ? 'ok' : r.outcome)
    }
    assert.deepEqual(outcomes, ['ok', 'ok', 'rate_limited', 'rate_limited'])
    assert.equal(rateLimitSource('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(rateLimitSource('::ffff:192.0.2.7'), '192.0.2.7')
    assert.equal(rateLimitSource('192.0.2.7'), '192.0.2.7')
  })
})
