/**
 * Issue 7, defect 2 (no overall cap on buffered partial frames): sessions that each send most
 * of a large frame and stop, and a session that trickles a frame. The relay-wide inbound budget
 * must drop the biggest holders, and a frame arriving too slowly must close its connection.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { MsgType, writeFrameHeader } from '../../src/protocol/frame.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

const MiB = 1024 * 1024

/**
 * Writes a RESPONSE header announcing `length` bytes and the first `sent` payload bytes, shaped
 * like a real answer (`{5: bstr(…)` …) so the relay must buffer it; resolves when flushed.
 */
async function partialFrame (p: RelayPeer, length: number, sent: number): Promise<void> {
  const h = Buffer.alloc(12)
  writeFrameHeader(h, 0, MsgType.Response, length)
  p.sendRaw(h)
  const payload = Buffer.alloc(sent, 0x41)
  payload.set([0xa2, 0x05, 0x5a], 0)
  payload.writeUInt32BE(length - 20, 3)
  if (!p.socket.write(payload)) await once(p.socket, 'drain')
}

describe('attack: partial frames (issue 7.2)', () => {
  it('drops the sessions holding the most once the relay-wide budget is exceeded; others keep working', async () => {
    const h = await startRelay({ maxInboundBufferedBytes: 4 * MiB, bindRateLimit: 0 })
    try {
      const attackers: RelayPeer[] = []
      for (let i = 0; i < 10; i++) attackers.push(await h.worker(`attacker-${i}`))
      const legit = await h.worker('legit')
      legit.serve(task => ({ result: task }))
      for (const a of attackers) await partialFrame(a, 16 * MiB - 1, MiB)
      // 10 MiB announced against a 4 MiB budget: at most four of them can still be held.
      let closed = 0
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>(resolve => {
        for (const a of attackers) void a.ended.then(() => { if (++closed >= 6) resolve() })
        timer = setTimeout(resolve, 5000)
      })
      clearTimeout(timer)
      assert.ok(closed >= 6, `closed ${closed} of 10`)
      const ans = await http(h.httpPort, '/v1/relay-for/legit/v1/task', { body: { task_id: 't1' } })
      assert.equal(ans.status, 200)
    } finally {
      await h.close()
    }
  })

  it('closes a session whose frame arrives slower than the minimum rate', async () => {
    const h = await startRelay({ minFrameBytesPerSecond: 1024 * 1024, frameGraceMs: 200, sweepIntervalMs: 50 })
    try {
      const p = await h.worker('slow')
      await partialFrame(p, MiB, 10)
      // One byte every 50 ms keeps the session "active" for the idle timeout, but the frame is hopeless.
      const trickle = setInterval(() => { if (!p.socket.destroyed) p.socket.write(Buffer.from([0x41])) }, 50)
      try {
        await p.expectClosed(3000)
      } finally {
        clearInterval(trickle)
      }
    } finally {
      await h.close()
    }
  })

  it('a legitimate 8 MiB RESPONSE still passes at loopback speed', async () => {
    const h = await startRelay({ maxInboundBufferedBytes: 32 * MiB })
    try {
      const p = await h.worker('big')
      const big = 'x'.repeat(8 * MiB)
      p.serve(() => ({ result: big }))
      const ans = await http(h.httpPort, '/v1/relay-for/big/v1/task', { body: { task_id: 't1' }, timeoutMs: 20_000 })
      assert.equal(ans.status, 200)
      assert.equal((ans.json<{ result: string }>()).result.length, 8 * MiB)
    } finally {
      await h.close()
    }
  })
})
