/**
 * Bodies held as chunks: ByteChunks' views and joins, the frame decoder's chunked payloads
 * (split at every byte near the ends), and the hot CALL/RESPONSE shape written around and read
 * out of chunks byte-identical to the one-buffer path.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ByteChunks, joinBytes } from '../../src/byte-chunks.ts'
import { encodeBodyFrame, encodeBodyFrameChunks, readBodyAndCallId, readBodyAndCallIdChunks } from '../../src/protocol/body-frame.ts'
import { FrameDecoder, MsgType, encodeFrame } from '../../src/protocol/frame.ts'
import { FRAME_HEADER_BYTES } from '../../src/limits.ts'

const CALL_ID = '0f8fad5b-d9cb-469f-a165-70867728950e'

/** `b` cut at the given positions. */
function cut (b: Buffer, ...at: number[]): Buffer[] {
  const out: Buffer[] = []
  let from = 0
  for (const a of [...at, b.length]) {
    out.push(b.subarray(from, a))
    from = a
  }
  return out
}

describe('ByteChunks', () => {
  it('ranges and slices across chunk boundaries as views or small copies, and joins once', () => {
    const whole = Buffer.from('0123456789abcdefghij')
    const chunks = new ByteChunks(cut(whole, 0, 3, 3, 9, 15))
    assert.equal(chunks.length, 20)
    assert.equal(chunks.parts.length, 4, 'empty chunks are dropped')
    for (let a = 0; a <= 20; a++) {
      for (let b = a; b <= 20; b++) {
        assert.equal(chunks.slice(a, b).toString(), whole.toString('latin1', a, b))
        assert.equal(chunks.range(a, b).join().toString(), whole.toString('latin1', a, b))
      }
    }
    assert.equal(chunks.slice(4, 8).buffer, whole.buffer, 'inside one chunk: a view')
    assert.equal(chunks.join(), chunks.join(), 'joined once')
    assert.equal(joinBytes(new ByteChunks([whole])), whole)
    assert.equal(joinBytes(whole), whole)
  })
})

describe('chunked frames', () => {
  const body = Buffer.from(JSON.stringify({ result: { pad: 'x'.repeat(300) } }))

  it('encodes the hot shape around chunks byte for byte as the one-buffer encoder does', () => {
    const parts = encodeBodyFrameChunks(MsgType.Call, CALL_ID, new ByteChunks(cut(body, 7, 100, 299)))
    assert.ok(Buffer.concat(parts).equals(encodeBodyFrame(MsgType.Call, CALL_ID, body)))
    assert.equal(parts[1]?.buffer, body.buffer, 'the body chunks are written as they are')
  })

  it('the decoder returns a payload over its threshold as chunks, split at any byte near either end', () => {
    const canonical = encodeBodyFrame(MsgType.Response, CALL_ID, body)
    // Rust key order {15, 5}.
    const id = Buffer.from(CALL_ID)
    const rustPayload = Buffer.concat([Buffer.from([0xa2, 0x0f, 0x60 | 24, id.length]), id, Buffer.from([0x05, 0x59, body.length >> 8, body.length & 0xff]), body])
    for (const frame of [canonical, encodeFrame(MsgType.Response, rustPayload)]) {
      const positions = [...Array.from({ length: 60 }, (_, k) => k), ...Array.from({ length: 60 }, (_, k) => frame.length - 60 + k)]
      for (const a of positions) {
        for (const b of [a, a + 1, a + 13, frame.length - 1]) {
          if (b < a || b > frame.length) continue
          const decoder = new FrameDecoder(undefined, undefined, true, 100)
          const frames = cut(frame, a, b).flatMap(c => decoder.push(c))
          assert.equal(frames.length, 1)
          const f = frames[0]
          assert.ok(f?.chunks !== undefined, 'held as chunks')
          const fast = readBodyAndCallIdChunks(f.chunks)
          assert.equal(fast?.callId, CALL_ID, `split at ${a}/${b}`)
          assert.ok(fast.body.join().equals(body))
          assert.deepEqual(readBodyAndCallId(f.payload)?.callId, CALL_ID, 'payload joins on demand')
        }
      }
    }
  })

  it('leaves other shapes to the strict decoder, and small payloads whole', () => {
    const extraKey = encodeFrame(MsgType.Response, Buffer.concat([Buffer.from([0xa3, 0x05, 0x59, body.length >> 8, body.length & 0xff]), body, Buffer.from([0x0f, 0x62, 0x69, 0x64, 0x01, 0x01])]))
    const textBody = encodeFrame(MsgType.Response, Buffer.concat([Buffer.from([0xa2, 0x05, 0x79, body.length >> 8, body.length & 0xff]), body, Buffer.from([0x0f, 0x62, 0x69, 0x64])]))
    const trailing = Buffer.concat([encodeBodyFrame(MsgType.Response, CALL_ID, body).subarray(FRAME_HEADER_BYTES), Buffer.from([0x00])])
    for (const payload of [extraKey.subarray(FRAME_HEADER_BYTES), textBody.subarray(FRAME_HEADER_BYTES), trailing]) {
      assert.equal(readBodyAndCallIdChunks(new ByteChunks(cut(payload, 50, 200))), undefined)
    }
    const decoder = new FrameDecoder(undefined, undefined, false, 100)
    const [small] = decoder.push(encodeBodyFrame(MsgType.Response, CALL_ID, '{}'))
    assert.equal(small?.chunks, undefined)
  })
})
