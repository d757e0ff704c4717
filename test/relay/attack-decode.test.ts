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

  it('a bound worker sending a 512 KiB array-of-maps RESPONSE fails only its own call; the session keeps serving', async () => {
    // The relay refuses the frame from its first 64 KiB and never sees its call id (at the end):
    // the call ends at its forward deadline, with one answer.
    const h = await startRelay({ forwardTimeoutMs: 500 })
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
      const ans = await answer
      assert.ok(ans.status === 500 || ans.status === 502, `status ${ans.status}`)
      p.serve(task => ({ result: task }))
      const ok = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't2' } })
      assert.equal(ok.status, 200)
    } finally {
      await h.close()
    }
  })
})

describe('attack: a 16 MiB non-map payload is never buffered (issue 7.1)', () => {
  it('the relay-side decoder drops it as it arrives and hands on only its first byte', () => {
    const d = new FrameDecoder(undefined, undefined, true)
    const h = Buffer.alloc(12)
    writeFrameHeader(h, 0, MsgType.Response, 16 * 1024 * 1024)
    assert.deepEqual(d.push(h), [])
    const chunk = Buffer.alloc(64 * 1024, 0xa0)
    chunk[0] = 0x9a
    let frames = d.push(chunk)
    for (let i = 1; i < 256; i++) {
      assert.equal(d.bufferedBytes, 0)
      frames = frames.concat(d.push(Buffer.alloc(64 * 1024, 0xa0)))
    }
    assert.equal(frames.length, 1)
    assert.deepEqual([...(frames[0]?.payload ?? [])], [0x9a])
    assert.throws(() => parseResponse(frames[0]?.payload ?? Buffer.alloc(0)), (e: unknown) => isToolkitError(e, ErrorCode.Protocol) && reason(e) === 'not_a_map')
    // A large map whose first 64 KiB already break the limits is refused from them: 64 KiB held, not 16 MiB.
    writeFrameHeader(h, 0, MsgType.Response, 16 * 1024 * 1024)
    const mapPayload = responseWithMaps(16 * 1024 * 1024 - 10, 'x')
    assert.equal(mapPayload.length, 16 * 1024 * 1024)
    const got = d.push(Buffer.concat([h, mapPayload.subarray(0, 64 * 1024)]))
    assert.deepEqual(got, [])
    let held = d.bufferedBytes
    frames = []
    for (let o = 64 * 1024; o < mapPayload.length; o += 64 * 1024) {
      frames = frames.concat(d.push(mapPayload.subarray(o, o + 64 * 1024)))
      held = Math.max(held, d.bufferedBytes)
    }
    assert.equal(frames.length, 1)
    assert.equal(frames[0]?.payload.length, 64 * 1024)
    assert.ok(held <= 64 * 1024, `held ${held}`)
    // The stream stays in sync: the next frame decodes normally.
    const ping = Buffer.alloc(12 + 3)
    writeFrameHeader(ping, 0, MsgType.Ping, 3)
    ping.set([0xa1, 0x01, 0x40], 12)
    assert.equal(d.push(ping)[0]?.type, MsgType.Ping)
  })
})
