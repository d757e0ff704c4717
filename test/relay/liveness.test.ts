/**
 * Beyond upstream, liveness: the handshake deadline, caps on unbound connections, the idle
 * timeout (checklist 15), and pending calls failing the moment their session ends.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { MsgType } from '../../src/protocol/frame.ts'
import { encodeInit, encodePing } from '../../src/protocol/messages.ts'
import { handleCounts } from '../helpers/leaks.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'
import { RelayPeer } from '../helpers/relay-peer.ts'

describe('handshake deadline and unbound connection caps', () => {
  it('a connection that sends nothing, or never binds after ACK, is closed after handshakeTimeoutMs', async () => {
    const h = await startRelay({ handshakeTimeoutMs: 250 })
    try {
      const silent = await h.peer()
      const noBind = await h.peer()
      assert.equal((await noBind.init()).type, MsgType.Ack)
      const started = performance.now()
      await silent.expectClosed(1000)
      await noBind.expectClosed(1000)
      assert.ok(performance.now() - started < 1000)
      assert.equal(silent.received.length, 0)
      // A worker that binds in time is not affected by the deadline.
      const w = await h.worker('w1')
      await delay(400)
      w.sendRaw(encodePing())
      assert.equal((await w.nextFrame()).type, MsgType.Pong)
    } finally {
      await h.close()
    }
  })

  it('the INIT frame may arrive in pieces and still meets the deadline', async () => {
    const h = await startRelay({ handshakeTimeoutMs: 500 })
    try {
      const p = await h.peer()
      const init = encodeInit()
      p.sendRaw(init.subarray(0, 5))
      await delay(50)
      p.sendRaw(init.subarray(5))
      assert.equal((await p.nextFrame()).type, MsgType.Ack)
    } finally {
      await h.close()
    }
  })

  it('unbound connections are capped per IP: the excess is closed at once', async () => {
    const h = await startRelay({ maxPendingConnectionsPerIp: 2 })
    try {
      const a = await h.peer('127.0.0.1')
      const b = await h.peer('127.0.0.1')
      const excess = await h.peer('127.0.0.1')
      await excess.expectClosed(1000)
      assert.equal(excess.received.length, 0)
      const other = await h.peer('127.0.0.2')
      assert.equal((await other.init()).type, MsgType.Ack)
      assert.equal((await a.init()).type, MsgType.Ack)
      // Binding releases the slot: a new connection from the same IP is accepted again.
      assert.equal((await b.bind('w-b')).ok, true)
      const next = await h.peer('127.0.0.1')
      assert.equal((await next.init()).type, MsgType.Ack)
    } finally {
      await h.close()
    }
  })

  it('unbound connections are capped in total: a full table closes its oldest handshake for the newest (issue 7.3)', async () => {
    const h = await startRelay({ maxPendingConnections: 2 })
    try {
      const a = await h.peer('127.0.0.2')
      await h.peer('127.0.0.3')
      const newest = await h.peer('127.0.0.4')
      await a.expectClosed(1000)
      assert.equal(a.received.length, 0)
      assert.equal((await newest.init()).type, MsgType.Ack)
    } finally {
      await h.close()
    }
  })

  it('a handshake larger than the byte budget is closed', async () => {
    const h = await startRelay()
    try {
      const p = await h.peer()
      await p.init()
      // A RELAY_BIND header announcing 1 MiB, then 100 KiB of it: over the 64 KiB budget.
      const header = Buffer.from('49494350010b000000100000', 'hex')
      p.sendRaw(Buffer.concat([header, Buffer.alloc(100 * 1024)]))
      await p.expectClosed(1000)
    } finally {
      await h.close()
    }
  })
})

describe('idle sessions', () => {
  it('15: a bound session with no frame for idleTimeoutMs is closed and removed, and its id can bind again', async () => {
    const h = await startRelay({ idleTimeoutMs: 150 })
    try {
      const a = await h.worker('w1')
      await a.expectClosed(1000) // the relay closed the silent session (no FIN came from the worker)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 404)
      assert.equal(h.relay.sessionCount, 0)
      await h.worker('w1')
    } finally {
      await h.close()
    }
  })

  it('a worker that keeps pinging stays bound past the idle timeout', async () => {
    const h = await startRelay({ idleTimeoutMs: 400 })
    try {
      const a = await h.worker('w1')
      for (let i = 0; i < 12; i++) {
        await delay(50)
        a.sendRaw(encodePing())
        assert.equal((await a.nextFrame()).type, MsgType.Pong)
      }
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 200)
    } finally {
      await h.close()
    }
  })
})

describe('pending calls when the session ends', () => {
  it('the worker\'s socket closing fails every pending call at once: HTTP 502 IICP-E031 within 1 s', async () => {
    const h = await startRelay({ forwardTimeoutMs: 30_000 })
    try {
      const a = await h.worker('w1')
      const answers = [1, 2, 3].map(i => http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: `t${i}` } }))
      for (let i = 0; i < 3; i++) assert.equal((await a.nextFrame()).type, MsgType.Call)
      const closedAt = performance.now()
      a.destroy()
      for (const answer of answers) {
        const ans = await answer
        assert.equal(ans.status, 502)
        assert.equal(ans.json<{ error: { code: string } }>().error.code, 'IICP-E031')
      }
      assert.ok(performance.now() - closedAt < 1000)
    } finally {
      await h.close()
    }
  })

  it('a worker CLOSE fails pending calls at once, even if the worker keeps its socket open', async () => {
    const h = await startRelay({ forwardTimeoutMs: 30_000 })
    const a = await RelayPeer.connect(h.relayPort, '127.0.0.1', undefined, true)
    try {
      assert.equal((await a.bind('w1')).ok, true)
      const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't' } })
      assert.equal((await a.nextFrame()).type, MsgType.Call)
      const sentAt = performance.now()
      a.sendRaw(Buffer.from('494943500107000000000000', 'hex'))
      assert.equal((await answer).status, 502)
      // Well before the relay's 1 s end grace would have closed the lingering socket.
      assert.ok(performance.now() - sentAt < 800)
    } finally {
      a.destroy()
      await h.close()
    }
  })

  it('the sweep is one unref\'d timer per relay, not one per session', async () => {
    const timers = (): number => handleCounts().Timeout ?? 0
    const before = timers()
    const h = await startRelay()
    try {
      for (let i = 0; i < 20; i++) await h.worker(`w${i}`)
      assert.equal(timers(), before)
    } finally {
      await h.close()
    }
  })
})
