import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { decodeCbor, decodePayloadMap, encodeCbor } from '../../src/protocol/cbor.ts'
import {
  encodeAck, encodeCall, encodeClose, encodeInit, encodeLifecycleResponse, encodePing, encodePong, encodeRelayAckError,
  encodeRelayAckOk, encodeRelayBind, encodeResponse, parseCall, parsePingEcho, parseRelayAck, parseRelayBind, parseResponse
} from '../../src/protocol/messages.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { relayFrame, relayVectors } from '../helpers/fixtures.ts'

const CALL_ID = '00000000-0000-4000-8000-000000000001'

function payloadOf (wire: Buffer): Buffer {
  const r = decodeFrame(wire)
  assert.equal(r.outcome, 'accept')
  return r.outcome === 'accept' ? r.frame.payload : Buffer.alloc(0)
}

describe('relay messages against relay-vectors.json', () => {
  it('every vector decodes as a frame with a CBOR map payload (or empty)', () => {
    for (const v of relayVectors.frames) {
      const wire = Buffer.from(v.wire_hex, 'hex')
      const r = decodeFrame(wire)
      assert.equal(r.outcome, 'accept', v.frame)
      if (r.outcome === 'accept') {
        assert.equal(r.consumed, wire.length, v.frame)
        assert.ok(decodePayloadMap(r.frame.payload) instanceof Map, v.frame)
      }
    }
  })

  it('canonical frames re-encode byte for byte', () => {
    const cases: Array<[string, Buffer]> = [
      ['INIT', encodeInit()],
      ['ACK', encodeAck()],
      ['RELAY_BIND `{1:"w-echo-1"', encodeRelayBind({ workerId: 'w-echo-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['m1'] })],
      ['RELAY_ACK ok `{1:"ok",2:"w-echo-1"', encodeRelayAckOk('w-echo-1', 18080)],
      ['RELAY_ACK error `{1:"error",2:"w-echo-1"', encodeRelayAckError('w-echo-1', 'worker_id already bound to an alive session')],
      ['RELAY_BIND `{1:"w1"', encodeRelayBind({ workerId: 'w1', intent: 'urn:x', models: ['m1'] })],
      ['RELAY_BIND with ticket', encodeRelayBind({ workerId: 'w1', intent: 'urn:x', models: [], ticket: 'T' })],
      ['RELAY_ACK ok `{1:"ok",2:"w1"', encodeRelayAckOk('w1', 9484)],
      ['RELAY_ACK error (capacity)', encodeRelayAckError('w1', 'relay at session capacity')],
      ['CALL canonical', encodeCall(CALL_ID, Buffer.from('{}'))],
      ['RESPONSE', encodeResponse(CALL_ID, Buffer.from('{"ok":true}'))],
      ['Worker keepalive PING', encodePing()],
      ['PONG from Rust relay', encodePong()],
      ['PONG with echo', encodePong(Buffer.from('xyz'))],
      ['CLOSE (empty)', encodeClose()]
    ]
    for (const [name, bytes] of cases) assert.equal(bytes.toString('hex'), relayFrame(name).toString('hex'), name)
  })

  it('decodes a CALL in either key order identically (checklist 4)', () => {
    const a = parseCall(payloadOf(relayFrame('CALL canonical')))
    const b = parseCall(payloadOf(relayFrame('Same CALL in Rust key order')))
    assert.deepEqual(a, b)
    assert.equal(a.callId, CALL_ID)
    assert.equal(a.body.toString(), '{}')
  })

  it('parses RELAY_BIND, RELAY_ACK, RESPONSE and PING vectors', () => {
    assert.deepEqual(parseRelayBind(payloadOf(relayFrame('RELAY_BIND with ticket'))), { workerId: 'w1', intent: 'urn:x', models: [], ticket: 'T' })
    assert.deepEqual(parseRelayAck(payloadOf(relayFrame('RELAY_ACK ok `{1:"ok",2:"w-echo-1"'))), { ok: true, workerId: 'w-echo-1', httpPort: 18080 })
    assert.deepEqual(parseRelayAck(payloadOf(relayFrame('RELAY_ACK error (capacity)'))), { ok: false, workerId: 'w1', reason: 'relay at session capacity' })
    const r = parseResponse(payloadOf(relayFrame('RESPONSE')))
    assert.equal(r.kind, 'buffered')
    if (r.kind === 'buffered') assert.deepEqual(JSON.parse(r.body.toString()), { ok: true })
    assert.equal(Buffer.from(parsePingEcho(payloadOf(relayFrame('PONG with echo')))).toString(), 'xyz')
    assert.equal(parsePingEcho(Buffer.alloc(0)).length, 0)
    assert.equal(parsePingEcho(payloadOf(relayFrame('PONG from Python relay'))).length, 0)
  })

  it('parses lifecycle vectors and re-encodes them canonically', () => {
    for (const name of ['Lifecycle partial', 'Lifecycle success']) {
      const wire = relayFrame(name)
      const r = parseResponse(payloadOf(wire))
      assert.equal(r.kind, 'lifecycle')
      if (r.kind === 'lifecycle') assert.equal(encodeLifecycleResponse(r.event).toString('hex'), wire.toString('hex'), name)
    }
  })

  it('CALL/RESPONSE fast path agrees with the strict decoder, and falls back on anything unusual', () => {
    const id = Buffer.from(CALL_ID)
    const hex = (h: string): Buffer => Buffer.from(h.replace(/ /g, ''), 'hex')
    // {5: h'7b7d'} with the bstr length in a 2-byte head, then 15: call id (non-minimal widths are valid CBOR)
    const wide = Buffer.concat([hex('a2 05 590002 7b7d 0f 7824'), id])
    assert.deepEqual(parseCall(wide), { callId: CALL_ID, body: Buffer.from('{}') })
    const textBody = Buffer.concat([hex('a2 05 62 7b7d 0f 7824'), id])
    assert.deepEqual(parseCall(textBody), { callId: CALL_ID, body: Buffer.from('{}') })
    const dup = hex('a2 05 42 7b7d 05 42 7b7d')
    assert.throws(() => parseCall(dup), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid))
    const trailing = Buffer.concat([hex('a2 05 42 7b7d 0f 7824'), id, hex('00')])
    assert.throws(() => parseResponse(trailing), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid))
    const truncated = hex('a2 05 45 7b7d')
    assert.throws(() => parseResponse(truncated), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid))
  })

  it('rejects a RELAY_BIND without worker id', () => {
    const bad = encodeCbor(new Map<number, unknown>([[2, 'urn:x']]))
    assert.throws(() => parseRelayBind(bad), (e: unknown) => isToolkitError(e, ErrorCode.Protocol))
    const empty = encodeCbor(new Map<number, unknown>([[1, '']]))
    assert.throws(() => parseRelayBind(empty), (e: unknown) => isToolkitError(e, ErrorCode.Protocol))
  })
})

describe('CBOR payload rules', () => {
  const bad = (hex: string): void => {
    assert.throws(() => decodeCbor(Buffer.from(hex, 'hex')), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid), hex)
  }
  it('accepts any integer width and key order', () => {
    // {1: 1} with the key and value in 1-, 2-, 4- and 8-byte forms
    for (const hex of ['a10101', 'a1180118 01'.replace(/ /g, ''), 'a119000119 0001'.replace(/ /g, ''), 'a11a000000011a00000001', 'a11b00000000000000011b0000000000000001']) {
      assert.deepEqual(decodeCbor(Buffer.from(hex, 'hex')), new Map([[1, 1]]), hex)
    }
    assert.deepEqual(decodeCbor(Buffer.from('a20f61610561 62'.replace(/ /g, ''), 'hex')), new Map<number, string>([[15, 'a'], [5, 'b']]))
  })
  it('rejects duplicate keys, tags, indefinite lengths, undefined and trailing bytes', () => {
    bad('a201010102') // {1:1, 1:2}
    bad('c10101') // tag 1
    bad('bf0101ff') // indefinite map
    bad('5f4101ff') // indefinite bstr
    bad('a101f7') // undefined
    bad('a1010100') // trailing byte
  })
  it('encodes maps canonically whatever the insertion order', () => {
    assert.equal(Buffer.from(encodeCbor(new Map<number, unknown>([[15, 'x'], [5, 1], [1, 0]]))).toString('hex'), 'a3010005010f6178')
  })
  it('maps a frame type byte to the relay message names', () => {
    assert.equal(MsgType.RelayBind, 0x0b)
    assert.equal(MsgType.RelayAck, 0x0c)
  })
})
