import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:dgram'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { retransmissionScheduleMs, stunBinding, stunTransaction } from '../../nat/stun/index.ts'
import { closeUdpSocket, openUdpSocket } from '../../nat/stun/udp.ts'
import { startFakeStunServer } from '../helpers/stun-fake-server.ts'
import { assertNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'

function isCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(isToolkitError(err), `expected a ToolkitError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

describe('STUN transaction (RFC 5389 §7.2.1 retransmission)', () => {
  let baseline: Record<string, number>
  before(() => { baseline = handleCounts() })
  after(async () => { await assertNoLeakedHandles(baseline) })

  it('the default schedule is 39.5 s for RTO 500 ms, Rc 7, Rm 16', () => {
    assert.equal(retransmissionScheduleMs(500, 7, 16), 39_500)
  })

  it('retransmits with a doubling RTO until the server answers', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', dropFirst: 3 })
    try {
      const result = await stunBinding({ server: server.primary, localAddress: '127.0.0.1', rtoMs: 40 })
      assert.equal(result.requestsSent, 4)
      assert.equal(server.requests.length, 4)
      const ids = new Set(server.requests.map(r => r.transactionId.toString('hex')))
      assert.equal(ids.size, 1, 'every retransmission carries the same transaction id')
      assert.deepEqual(result.mapped, { family: 4, address: '127.0.0.1', port: result.local.port })
      // measured at the sender (timers never fire early): the 4th request left after 40 + 80 + 160 ms
      assert.ok(result.rttMs >= 40 + 80 + 160 - 1, `rtt ${result.rttMs} ms covers the three doubling waits`)
    } finally {
      await server.close()
    }
  })

  it('gives up after Rc requests and an Rm·RTO wait with ERR_STUN_TIMEOUT', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', silent: true })
    try {
      const startedAt = performance.now()
      await assert.rejects(stunBinding({ server: server.primary, rtoMs: 10, maxRequests: 4, lastWaitMultiplier: 3 }), (err: unknown) => {
        isCode(ErrorCode.StunTimeout)(err)
        assert.equal((err as { details: { requestsSent: number } }).details.requestsSent, 4)
        return true
      })
      const elapsed = performance.now() - startedAt
      assert.ok(elapsed >= retransmissionScheduleMs(10, 4, 3) - 5, `ended after ${elapsed} ms`)
      assert.equal(server.requests.length, 4)
    } finally {
      await server.close()
    }
  })

  it('the overall deadline cuts the schedule short', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', silent: true })
    try {
      const startedAt = performance.now()
      await assert.rejects(stunBinding({ server: server.primary, rtoMs: 50, timeoutMs: 120 }), isCode(ErrorCode.StunTimeout))
      const elapsed = performance.now() - startedAt
      assert.ok(elapsed >= 115 && elapsed < 1000, `ended after ${elapsed} ms`)
      // requests at 0 and 50 ms (1 if the 50 ms timer ran late under load); the next one (150 ms) is past the deadline
      assert.ok(server.requests.length >= 1 && server.requests.length <= 2, `${server.requests.length} requests`)
    } finally {
      await server.close()
    }
  })

  it('an AbortSignal ends it at once with ERR_ABORTED and closes the owned socket', async () => {
    const ctrl = new AbortController()
    const server = await startFakeStunServer({ primary: '127.0.0.2', silent: true, onRequest: () => { ctrl.abort() } })
    try {
      const startedAt = performance.now()
      await assert.rejects(stunBinding({ server: server.primary, rtoMs: 1000, signal: ctrl.signal }), isCode(ErrorCode.Aborted))
      assert.ok(performance.now() - startedAt < 900, 'did not wait for the next retransmission')
      await assert.rejects(stunBinding({ server: server.primary, signal: ctrl.signal }), isCode(ErrorCode.Aborted), 'an aborted signal fails fast')
      assert.equal(server.requests.length, 1)
    } finally {
      await server.close()
    }
  })

  it('an error response rejects with ERR_STUN_ERROR_RESPONSE and the code', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', errorCode: 487 })
    try {
      await assert.rejects(stunBinding({ server: server.primary }), (err: unknown) => {
        isCode(ErrorCode.StunErrorResponse)(err)
        assert.equal((err as { details: { code: number } }).details.code, 487)
        return true
      })
    } finally {
      await server.close()
    }
  })

  it('discards answers with a bad FINGERPRINT and keeps waiting', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', corruptFirst: 2 })
    try {
      const result = await stunBinding({ server: server.primary, rtoMs: 20 })
      assert.equal(result.requestsSent, 3)
      assert.equal(result.response.hasFingerprint, true)
    } finally {
      await server.close()
    }
  })

  it('accepts an answer from another address only with acceptFrom "any"', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', alternate: '127.0.0.3' })
    try {
      const changeRequest = { changeIp: true, changePort: true }
      await assert.rejects(stunBinding({ server: server.primary, changeRequest, rtoMs: 20, timeoutMs: 100 }), isCode(ErrorCode.StunTimeout))
      const result = await stunBinding({ server: server.primary, changeRequest, acceptFrom: 'any' })
      assert.deepEqual(result.source, server.alternate)
      assert.deepEqual(result.responseOrigin, { family: 4, ...server.alternate })
    } finally {
      await server.close()
    }
  })

  it('borrows a socket: leaves it open, removes its listeners, and fails fast when it closes', async () => {
    const server = await startFakeStunServer({ primary: '127.0.0.2', silent: true })
    let socket: Socket | undefined
    try {
      socket = await openUdpSocket({ family: 4, address: '127.0.0.1', onError: () => {} })
      const listeners = socket.listenerCount('message')
      await assert.rejects(stunTransaction({ socket, server: server.primary, rtoMs: 10, timeoutMs: 30 }), isCode(ErrorCode.StunTimeout))
      assert.equal(socket.listenerCount('message'), listeners)
      assert.equal(socket.listenerCount('close'), 0)
      assert.doesNotThrow(() => socket?.address(), 'the borrowed socket is still open')
      const pending = stunTransaction({ socket, server: server.primary, rtoMs: 1000 })
      await closeUdpSocket(socket)
      await assert.rejects(pending, isCode(ErrorCode.ConnectionClosed))
      await assert.rejects(stunTransaction({ socket, server: server.primary }), isCode(ErrorCode.InvalidConfig))
    } finally {
      if (socket !== undefined) await closeUdpSocket(socket)
      await server.close()
    }
  })

  it('rejects bad options before sending anything', async () => {
    await assert.rejects(stunTransaction({ server: { address: 'stun.example.com', port: 3478 } }), isCode(ErrorCode.InvalidAddress))
    await assert.rejects(stunTransaction({ server: { address: '127.0.0.2', port: 0 } }), isCode(ErrorCode.InvalidAddress))
    await assert.rejects(stunTransaction({ server: { address: '127.0.0.2', port: 3478 }, rtoMs: 0 }), isCode(ErrorCode.InvalidConfig))
    const socket = await openUdpSocket({ family: 4, address: '127.0.0.1', onError: () => {} })
    try {
      await assert.rejects(stunTransaction({ socket, server: { address: '::1', port: 3478 } }), isCode(ErrorCode.InvalidAddress))
    } finally {
      await closeUdpSocket(socket)
    }
  })
})
