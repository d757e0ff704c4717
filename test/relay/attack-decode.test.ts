/**
 * Issue 7, defect 1 (decode cost): payloads built to make the decoder work hard. Each case is
 * the attack itself; the assertions say the work was refused before it was done (at the first
 * byte, at the item limit, or from a frame header) rather than measuring time.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, isToolkitError, type ToolkitError } from '../../src/errors.ts'
import { MAX_CBOR_ITEMS, MAX_CONTROL_PAYLOAD_BYTES } from '../../src/limits.ts'
import { decodeCbor, decodePayloadMap } from '../../src/protocol/cbor.ts'
import { FrameDecoder, MsgType, writeFrameHeader } from '../../src/protocol/frame.ts'
import { parseRelayBind, parseResponse } from '../../src/protocol/messages.ts'
import { http, startRelay } from '../helpers/relay-harness.ts'

/** A CBOR head of `major` with length `n` (32-bit form when large). */
function head (major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n])
  const b = Buffer.alloc(5)
  b[0] = (major << 5) | 26
  b.writeUInt32BE(n, 1)
  return b
}

/** `[{}, {}, …]`: `n` empty maps, one byte each. */
function arrayOfEmptyMaps (n: number): Buffer {
  return Buffer.concat([head(4, n), Buffer.alloc(n, 0xa0)])
}

/** `{5: [{}…], 15: callId}`: a RESPONSE whose body is the attack. */
function responseWithMaps (n: number, callId: string): Buffer {
  const id = Buffer.from(callId, 'utf8')
  return Buffer.concat([Buffer.from([0xa2, 0x05]), arrayOfEmptyMaps(n), Buffer.from([0x0f]), head(3, id.length), id])
}

function reason (err: unknown): unknown {
  return (err as ToolkitError).details?.reason
}

describe('attack: CBOR decode cost (issue 7.1)', () => {
  it('refuses a top-level non-map at its first byte, before decoding the rest', () => {
    // 1 MiB of empty maps in an array: cborg would build a million Maps, then find it is not a map.
    const payload = arrayOfEmptyMaps(1024 * 1024)
    assert.throws(() => decodePayloadMap(payload), (e: unknown) => isToolkitError(e, ErrorCode.Protocol) && reason(e) === 'not_a_map')
    assert.throws(() => parseResponse(payload), (e: unknown) => isToolkitError(e, ErrorCode.Protocol) && reason(e) === 'not_a_map')
  })

  it('refuses a map holding more items than the limit, and reports the call id without a second decode', () => {
    // {5: [0, 0, …], 15: id}: 200,000 one-byte integers.
    const id = Buffer.from('c-attack')
    const payload = Buffer.concat([Buffer.from([0xa2, 0x05]), head(4, 200_000), Buffer.alloc(200_000), Buffer.from([0x0f]), head(3, id.length), id])
    assert.throws(() => parseResponse(payload), (e: unknown) =>
      isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'too_many_items' && (e).details?.callId === 'c-attack')
  })

  it('bounds maps and arrays in proportion to the payload bytes', () => {
    // 2,000 empty maps: under the item limit, but 2,000 Maps from ~2 KB is far beyond a small multiple.
    const payload = responseWithMaps(2_000, 'c1')
    assert.ok(2_000 < MAX_CBOR_ITEMS)
    assert.throws(() => parseResponse(payload), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'too_many_containers')
  })

  it('bounds nesting depth', () => {
    const deep = Buffer.concat([Buffer.from([0xa1, 0x01]), Buffer.alloc(40, 0x81), Buffer.from([0x00])])
    assert.throws(() => decodeCbor(deep), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'too_deep')
  })

  it('refuses a count larger than the bytes left without walking it', () => {
    const lie = Buffer.concat([Buffer.from([0xa1, 0x01]), head(4, 0xffffffff)])
    assert.throws(() => decodeCbor(lie), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'truncated')
  })

  it('still decodes legitimate shapes: lifecycle events, binds with models, a 3,000-float result', () => {
    const floats = Buffer.concat([head(4, 3000), ...Array.from({ length: 3000 }, () => Buffer.from('fa3f800000', 'hex'))])
    const map = decodeCbor(Buffer.concat([Buffer.from([0xa1, 0x05]), floats])) as Map<number, number[]>
    assert.equal(map.get(5)?.length, 3000)
    const bind = Buffer.concat([Buffer.from([0xa3, 0x01, 0x62, 0x77, 0x31, 0x02, 0x60, 0x03]), head(4, 200),
      ...Array.from({ length: 200 }, (_, i) => Buffer.concat([head(3, `model-${i}`.length), Buffer.from(`model-${i}`)]))])
    assert.equal(parseRelayBind(bind).models.length, 200)
  })

  it('gives control frames a small size limit, enforced from the header alone', () => {
    for (const type of [MsgType.Init, MsgType.RelayBind, MsgType.Ping, MsgType.Close]) {
      const h = Buffer.alloc(12)
      writeFrameHeader(h, 0, type, MAX_CONTROL_PAYLOAD_BYTES + 1)
      assert.throws(() => new FrameDecoder().push(h), (e: unknown) => isToolkitError(e, ErrorCode.FrameTooLarge), `type ${type}`)
      writeFrameHeader(h, 0, type, MAX_CONTROL_PAYLOAD_BYTES)
      assert.deepEqual(new FrameDecoder().push(h), [])
    }
    const response = Buffer.alloc(12)
    writeFrameHeader(response, 0, MsgType.Response, 1024 * 1024)
    assert.deepEqual(new FrameDecoder().push(response), [], 'RESPONSE keeps the 16 MiB limit')
  })

  it('a bound worker sending a 512 KiB array-of-maps RESPONSE loses its session; its call is answered at once', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      const answer = http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't1' } })
      const call = await p.nextFrame()
      const callId = (decodeCbor(call.payload) as Map<number, unknown>).get(15) as string
      const frame = responseWithMaps(512 * 1024, callId)
      const out = Buffer.alloc(12 + frame.length)
      writeFrameHeader(out, 0, MsgType.Response, frame.length)
      frame.copy(out, 12)
      p.sendRaw(out)
      assert.equal((await answer).status, 502)
      await p.expectClosed(2000)
      const again = await h.worker('w1')
      again.serve(task => ({ result: task }))
      assert.equal((await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't2' } })).status, 200)
    } finally {
      await h.close()
    }
  })
})

describe('attack: a 16 MiB undecodable payload is never buffered (issue 7.1)', () => {
  const big = (): Buffer => { const h = Buffer.alloc(12); writeFrameHeader(h, 0, MsgType.Response, 16 * 1024 * 1024); return h }

  it('the relay-side decoder refuses a large non-map payload at its first byte', () => {
    const d = new FrameDecoder(undefined, undefined, true)
    assert.deepEqual(d.push(big()), [])
    assert.throws(() => d.push(Buffer.from([0x9a, 0x00, 0xff, 0xff, 0xfb])), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'undecodable_large_payload')
  })

  it('refuses a large map whose first 64 KiB break the CBOR limits, holding only those 64 KiB', () => {
    const d = new FrameDecoder(undefined, undefined, true)
    const mapPayload = responseWithMaps(16 * 1024 * 1024 - 10, 'x')
    assert.equal(mapPayload.length, 16 * 1024 * 1024)
    assert.deepEqual(d.push(big()), [])
    assert.deepEqual(d.push(mapPayload.subarray(0, 32 * 1024)), [])
    assert.throws(() => d.push(mapPayload.subarray(32 * 1024, 64 * 1024)), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && reason(e) === 'undecodable_large_payload')
  })

  it('drops a small non-map payload as it arrives and stays in sync (a PING that is not a map still gets its PONG)', () => {
    const d = new FrameDecoder(undefined, undefined, true)
    const h = Buffer.alloc(12)
    writeFrameHeader(h, 0, MsgType.Ping, 1000)
    const frames = [...d.push(h), ...d.push(Buffer.alloc(500, 0x41)), ...d.push(Buffer.alloc(500, 0x41))]
    assert.equal(frames.length, 1)
    assert.deepEqual([...(frames[0]?.payload ?? [])], [0x41])
    const ping = Buffer.alloc(12 + 3)
    writeFrameHeader(ping, 0, MsgType.Ping, 3)
    ping.set([0xa1, 0x01, 0x40], 12)
    assert.equal(d.push(ping)[0]?.type, MsgType.Ping)
  })

  it('the worker holding the bad frame loses its session at once: its pending call is answered, the relay serves others', async () => {
    const h = await startRelay()
    try {
      const attacker = await h.worker('attacker')
      const other = await h.worker('other')
      other.serve(task => ({ result: task }))
      const answer = http(h.httpPort, '/v1/relay-for/attacker/v1/task', { body: { task_id: 't1' } })
      await attacker.nextFrame()
      attacker.sendRaw(big())
      attacker.sendRaw(Buffer.from([0x9a, 0x00, 0xff, 0xff, 0xfb]))
      await attacker.expectClosed(2000)
      const ans = await answer
      assert.equal(ans.status, 502)
      assert.equal((await http(h.httpPort, '/v1/relay-for/other/v1/task', { body: { task_id: 't2' } })).status, 200)
    } finally {
      await h.close()
    }
  })
})
