/**
 * The bound session loop against a scripted upstream worker (checklist 18-20, 22): PING/PONG,
 * CALL shape, RESPONSE correlation in any order and key order, unknown call ids, CLOSE,
 * unknown types, bad magic, and the registry teardown guard.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { decodeCbor, encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeFrame, MsgType, type Frame } from '../../src/protocol/frame.ts'
import { encodeClose, encodePing, parseCall } from '../../src/protocol/messages.ts'
import { relayFrame } from '../helpers/fixtures.ts'
import { http, startRelay, type HttpAnswer } from '../helpers/relay-harness.ts'
import { pythonJson, type RelayPeer } from '../helpers/relay-peer.ts'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A CBOR text string head + bytes. */
function cborText (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([b.length < 24 ? Buffer.from([0x60 | b.length]) : Buffer.from([0x78, b.length]), b])
}

/** A CBOR byte string head + bytes (short forms only). */
function cborBytes (b: Buffer): Buffer {
  return Buffer.concat([b.length < 24 ? Buffer.from([0x40 | b.length]) : Buffer.from([0x58, b.length]), b])
}

/** RESPONSE in Rust key order `{15, 5}` (not canonical), with key 5 as bstr or tstr. */
function rustOrderResponse (callId: string, json: string, asText = false): Buffer {
  const body = asText ? cborText(json) : cborBytes(Buffer.from(json, 'utf8'))
  return encodeFrame(MsgType.Response, Buffer.concat([Buffer.from([0xa2, 0x0f]), cborText(callId), Buffer.from([0x05]), body]))
}

async function nextCall (p: RelayPeer): Promise<{ frame: Frame, callId: string, task: unknown }> {
  const frame = await p.nextFrame()
  assert.equal(frame.type, MsgType.Call)
  const call = parseCall(frame.payload)
  return { frame, callId: call.callId, task: JSON.parse(call.body.toString('utf8')) }
}

function post (port: number, workerId: string, body: unknown): Promise<HttpAnswer> {
  return http(port, `/v1/relay-for/${workerId}/v1/task`, { body: body as object })
}

describe('bound session loop', () => {
  it('18: PING gets a PONG echoing key 1 (always key 1), for every upstream PING shape', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      const cases: Array<[Buffer, string]> = [
        [encodePing(Buffer.from('xyz')), relayFrame('PONG with echo').toString('hex')],
        [relayFrame('Worker keepalive PING'), relayFrame('PONG from Rust relay').toString('hex')],
        [encodeFrame(MsgType.Ping, encodeCbor(new Map())), relayFrame('PONG from Rust relay').toString('hex')],
        [encodeFrame(MsgType.Ping), relayFrame('PONG from Rust relay').toString('hex')],
        [encodeFrame(MsgType.Ping, Buffer.from('ff', 'hex')), relayFrame('PONG from Rust relay').toString('hex')]
      ]
      for (const [ping, pong] of cases) {
        const before = p.received.length
        p.sendRaw(ping)
        const f = await p.nextFrame(1000)
        assert.equal(f.type, MsgType.Pong)
        assert.equal(p.received.subarray(before).toString('hex'), pong)
      }
    } finally {
      await h.close()
    }
  })

  it('19: a forwarded task is CALL {5: bstr of the posted JSON bytes, 15: uuid v4} in canonical order', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      const body = '{"task_id": "t-1", "intent": "urn:iicp:intent:llm:chat:v1", "payload": {"q": 1}}'
      const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body })
      const { frame, callId } = await nextCall(p)
      assert.match(callId, UUID_V4)
      const payload = frame.payload
      assert.equal(payload[0], 0xa2, 'a two-entry map')
      assert.equal(payload[1], 0x05, 'key 5 first (canonical)')
      assert.equal((payload[2] ?? 0) >> 5, 2, 'key 5 is a byte string')
      const map = decodeCbor(payload) as Map<number, unknown>
      assert.deepEqual(Buffer.from(map.get(5) as Uint8Array).toString('utf8'), body)
      assert.equal(map.get(15), callId)
      // The upstream Python worker answers with json.dumps spacing: parsed, never compared.
      p.respond(callId, Buffer.from(pythonJson({ result: { echo: { q: 1 } } })))
      const ans = await answer
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't-1', status: 'completed', result: { echo: { q: 1 } } })
    } finally {
      await h.close()
    }
  })

  it('19: several calls in flight resolve by call id when answered in reverse order and in any key order', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      const answers = [0, 1, 2, 3].map(i => post(h.httpPort, 'w1', { task_id: `t${i}`, n: i }))
      const calls = []
      for (let i = 0; i < 4; i++) calls.push(await nextCall(p))
      calls.reverse()
      for (const [i, c] of calls.entries()) {
        const n = (c.task as { n: number }).n
        const json = JSON.stringify({ result: { n } })
        // Alternate the canonical encoder, Rust key order, and key 5 as a text string.
        if (i % 3 === 0) p.respond(c.callId, { result: { n } })
        else p.sendRaw(rustOrderResponse(c.callId, json, i % 3 === 2))
      }
      for (const [i, a] of answers.entries()) {
        const ans = await a
        assert.equal(ans.status, 200)
        assert.deepEqual(ans.json(), { task_id: `t${i}`, status: 'completed', result: { n: i } })
      }
    } finally {
      await h.close()
    }
  })

  it('20: a RESPONSE with an unknown call id is ignored and the session keeps working', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      p.sendRaw(relayFrame('RESPONSE'))
      p.sendRaw(encodeFrame(MsgType.Response, Buffer.from('ff', 'hex')))
      const answer = post(h.httpPort, 'w1', { task_id: 'x' })
      const c = await nextCall(p)
      p.respond('00000000-0000-4000-8000-00000000dead', { result: 'wrong' })
      p.respond(c.callId, { result: 'right' })
      assert.deepEqual((await answer).json(), { task_id: 'x', status: 'completed', result: 'right' })
    } finally {
      await h.close()
    }
  })

  it('unknown and unexpected frame types are ignored', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      for (const type of [0x03, 0x04, 0x08, 0x0d, 0x0e, 0x7f, MsgType.Init, MsgType.RelayBind, MsgType.Ack]) {
        p.sendRaw(encodeFrame(type, encodeCbor(new Map([[1, 1]]))))
      }
      p.sendRaw(encodePing())
      assert.equal((await p.nextFrame()).type, MsgType.Pong)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 200)
    } finally {
      await h.close()
    }
  })

  it('22: CLOSE from the worker ends the session and removes its registry entry', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      p.sendRaw(encodeClose())
      await p.expectClosed(1000)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 404)
      assert.equal(h.relay.sessionCount, 0)
    } finally {
      await h.close()
    }
  })

  it('a bad magic mid-stream ends the session', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      p.sendRaw(Buffer.from('584943500109000000000000', 'hex'))
      await p.expectClosed(1000)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 404)
    } finally {
      await h.close()
    }
  })

  it('5: a frame announcing more than 16 MiB ends the session without waiting for the payload', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      p.sendRaw(Buffer.from('494943500106000001000001', 'hex')) // RESPONSE with length 16 MiB + 1
      await p.expectClosed(1000)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 404)
    } finally {
      await h.close()
    }
  })

  it('22: a replaced dead session\'s teardown does not remove the newer session', async () => {
    const h = await startRelay({ idleTimeoutMs: 150, sweepIntervalMs: 60_000 })
    try {
      const a = await h.worker('w1')
      await delay(200) // A is idle past the timeout: dead but registered
      const b = await h.worker('w1')
      await a.expectClosed(1000) // A was replaced and its socket closed (teardown ran)
      await delay(20)
      b.sendRaw(encodePing())
      assert.equal((await b.nextFrame()).type, MsgType.Pong)
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/iicp/health')).status, 200)
      assert.equal(h.relay.sessionCount, 1)
    } finally {
      await h.close()
    }
  })
})
