/**
 * Issue 7, defect 5 (unreachable worker ids bind "ok"): ids HTTP cannot address are refused at
 * bind with a clear RELAY_ACK reason, and the relay-for path segment is percent-decoded once.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BIND_REJECT_REASONS } from '../../relay/index.ts'
import { encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { parseRelayAck } from '../../src/protocol/messages.ts'
import { MAX_WORKER_ID_LENGTH, isValidWorkerId, workerIdFromPathSegment } from '../../src/protocol/worker-id.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'

const UNREACHABLE = ['a/b', 'a?b', 'a b', 'a\r\nb', 'a#b', 'a%2Fb', 'é', '-lead', 'x'.repeat(MAX_WORKER_ID_LENGTH + 1), 'w\uFFFD']

describe('attack: unreachable worker ids (issue 7.5)', () => {
  it('refuses every id HTTP cannot address with the "worker_id invalid" RELAY_ACK reason', async () => {
    const h = await startRelay({ bindRateLimit: 0 })
    try {
      for (const id of UNREACHABLE) {
        const p = await h.peer()
        const ack = await p.bind(id)
        assert.deepEqual(ack, { ok: false, workerId: id, reason: BIND_REJECT_REASONS.worker_id_invalid }, JSON.stringify(id))
        await p.expectClosed(1000)
      }
      assert.equal(h.relay.sessionCount, 0)
    } finally {
      await h.close()
    }
  })

  it('refuses a bstr worker id that is not valid UTF-8 (it would collapse into U+FFFD)', async () => {
    const h = await startRelay()
    try {
      const p = await h.peer()
      await p.init()
      p.sendRaw(encodeFrame(MsgType.RelayBind, encodeCbor(new Map<number, unknown>([[1, Uint8Array.from([0x77, 0xff])], [2, ''], [3, []]]))))
      const f = await p.nextFrame()
      assert.equal(f.type, MsgType.RelayAck)
      const ack = parseRelayAck(f.payload)
      assert.equal(ack.ok, false)
      assert.equal(ack.ok ? '' : ack.reason, BIND_REJECT_REASONS.worker_id_invalid)
    } finally {
      await h.close()
    }
  })

  it('accepts directory-style ids and reaches them raw or percent-encoded', async () => {
    const h = await startRelay()
    try {
      const ids = ['w-1', '0f8e2c1a-5b7d-4c3e-9a10-2b3c4d5e6f70', 'node.eu:7_a']
      for (const id of ids) await h.worker(id)
      for (const id of ids) {
        assert.equal((await http(h.httpPort, `/v1/relay-for/${id}/iicp/health`)).status, 200, id)
        const encoded = [...id].map(c => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
        assert.equal((await http(h.httpPort, `/v1/relay-for/${encoded}/iicp/health`)).status, 200, encoded)
      }
      const bad = await http(h.httpPort, '/v1/relay-for/a%2Fb/iicp/health')
      assert.equal(bad.status, 404)
      assert.equal((await http(h.httpPort, '/v1/relay-for/%E0%A4%A/iicp/health')).status, 404, 'malformed escape')
    } finally {
      await h.close()
    }
  })

  it('defines the alphabet in one place', () => {
    assert.equal(isValidWorkerId('a'.repeat(MAX_WORKER_ID_LENGTH)), true)
    assert.equal(workerIdFromPathSegment('w%2D1'), 'w-1')
    assert.equal(workerIdFromPathSegment('w%2F1'), undefined)
  })
})
