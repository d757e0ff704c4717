/**
 * Relay-accept handshake against a scripted upstream worker (checklist 6-9): magic, INIT/ACK,
 * RELAY_BIND parsing, and byte-exact ACK and RELAY_ACK frames.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeInit, encodePing, encodeRelayAckOk, encodeRelayBind } from '../../src/protocol/messages.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'

const ACK_HEX = '494943500102000000000003a10101'

describe('relay-accept handshake', () => {
  it('6: a connection that does not start with IICP is closed with no bytes sent', async () => {
    const h = await startRelay()
    try {
      for (const junk of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('584943500109000000000000', 'hex'), Buffer.from('II')]) {
        const p = await h.peer()
        p.sendRaw(junk)
        if (junk.length === 2) p.sendRaw(Buffer.from('XX'))
        await p.expectClosed()
        assert.equal(p.received.length, 0)
      }
    } finally {
      await h.close()
    }
  })

  it('7: INIT {1:1} gets ACK {1:1} byte for byte', async () => {
    const h = await startRelay()
    try {
      const p = await h.peer()
      p.sendRaw(relayFrame('INIT'))
      const f = await p.nextFrame()
      assert.equal(f.type, MsgType.Ack)
      assert.equal(p.received.toString('hex'), ACK_HEX)
      assert.equal(relayFrame('ACK').toString('hex'), ACK_HEX)
    } finally {
      await h.close()
    }
  })

  it('7: a first frame other than INIT closes the connection without a reply', async () => {
    const h = await startRelay()
    try {
      for (const first of [encodePing(), relayFrame('RELAY_BIND `{1:"w1"'), encodeFrame(MsgType.Ack, encodeCbor(new Map([[1, 1]])))]) {
        const p = await h.peer()
        p.sendRaw(first)
        await p.expectClosed()
        assert.equal(p.received.length, 0)
      }
    } finally {
      await h.close()
    }
  })

  it('8: after ACK, a RELAY_BIND without worker_id, with an empty one, with bad CBOR, or another frame type closes silently', async () => {
    const h = await startRelay()
    try {
      const bad = [
        encodeFrame(MsgType.RelayBind, encodeCbor(new Map<number, unknown>([[2, 'urn:x'], [3, []]]))),
        encodeFrame(MsgType.RelayBind, encodeCbor(new Map<number, unknown>([[1, ''], [2, 'urn:x'], [3, []]]))),
        encodeFrame(MsgType.RelayBind, Buffer.from('ff00', 'hex')),
        encodeFrame(MsgType.RelayBind, encodeCbor([1, 2])),
        encodePing(),
        encodeInit()
      ]
      for (const frame of bad) {
        const p = await h.peer()
        p.sendRaw(encodeInit())
        await p.nextFrame()
        p.sendRaw(frame)
        await p.expectClosed()
        assert.equal(p.received.toString('hex'), ACK_HEX, 'nothing after ACK')
      }
      assert.equal(h.relay.sessionCount, 0)
    } finally {
      await h.close()
    }
  })

  it('9: compatibility mode binds and RELAY_ACK key 4 is the bound HTTP port', async () => {
    const h = await startRelay()
    try {
      const p = await h.peer()
      p.sendRaw(encodeInit())
      await p.nextFrame()
      p.sendRaw(relayFrame('RELAY_BIND `{1:"w1"'))
      const f = await p.nextFrame()
      assert.equal(f.type, MsgType.RelayAck)
      assert.deepEqual(p.received.subarray(ACK_HEX.length / 2), encodeRelayAckOk('w1', h.httpPort))
      assert.equal(h.relay.sessionCount, 1)
    } finally {
      await h.close()
    }
  })

  it('9: with advertisedHttpPort the RELAY_ACK matches the upstream vectors byte for byte', async () => {
    const h = await startRelay({ advertisedHttpPort: 9484 })
    const h2 = await startRelay({ advertisedHttpPort: 18080 })
    try {
      const p = await h.peer()
      p.sendRaw(Buffer.concat([relayFrame('INIT'), relayFrame('RELAY_BIND `{1:"w1"')]))
      await p.nextFrame()
      await p.nextFrame()
      assert.equal(p.received.toString('hex'), ACK_HEX + relayFrame('RELAY_ACK ok `{1:"ok",2:"w1"').toString('hex'))
      // The frames captured between the upstream Python relay and worker.
      const q = await h2.peer()
      q.sendRaw(Buffer.concat([relayFrame('INIT'), relayFrame('RELAY_BIND `{1:"w-echo-1"')]))
      await q.nextFrame()
      await q.nextFrame()
      assert.equal(q.received.toString('hex'), ACK_HEX + relayFrame('RELAY_ACK ok `{1:"ok",2:"w-echo-1"').toString('hex'))
    } finally {
      await h.close()
      await h2.close()
    }
  })

  it('handles INIT and RELAY_BIND split at every byte boundary', async () => {
    const h = await startRelay()
    try {
      const p = await h.peer()
      const wire = Buffer.concat([encodeInit(), encodeRelayBind({ workerId: 'split', intent: 'urn:x', models: [] })])
      for (let i = 0; i < wire.length; i++) {
        p.sendRaw(wire.subarray(i, i + 1))
        await new Promise(resolve => setImmediate(resolve))
      }
      assert.equal((await p.nextFrame()).type, MsgType.Ack)
      const ack = await p.nextFrame()
      assert.equal(ack.type, MsgType.RelayAck)
      assert.equal(h.relay.sessionCount, 1)
    } finally {
      await h.close()
    }
  })

  it('keeps the models from RELAY_BIND for relay-for health (upstream bug #14)', async () => {
    const h = await startRelay()
    try {
      await h.worker('w-models', { models: ['m1', 'm2'] })
      const ans = await http(h.httpPort, '/v1/relay-for/w-models/iicp/health')
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { status: 'ok', node_id: 'w-models', via_relay: true, models: ['m1', 'm2'] })
    } finally {
      await h.close()
    }
  })
})
