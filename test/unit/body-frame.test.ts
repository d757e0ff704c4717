/**
 * The CALL/RESPONSE fast path (src/protocol/body-frame.ts): a body read into a buffer with
 * frame room is framed in place, once, byte-identical to a copied frame; string bodies are
 * encoded straight into the frame; and readBody fills such a buffer from a real HTTP request,
 * with or without a declared content-length.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readBody } from '../../src/http/read-body.ts'
import { allocBodyWithFrameRoom, encodeBodyFrame } from '../../src/protocol/body-frame.ts'
import { MsgType } from '../../src/protocol/frame.ts'
import { parseCall } from '../../src/protocol/messages.ts'
import { FRAME_HEADER_BYTES } from '../../src/limits.ts'

const CALL_ID = '0f8fad5b-d9cb-469f-a165-70867728950e'

function roomy (text: string): Buffer {
  const body = allocBodyWithFrameRoom(Buffer.byteLength(text))
  body.write(text)
  return body
}

/** True when `a` and `b` share bytes (small buffers come from one shared pool, so the same ArrayBuffer is not enough). */
function overlaps (a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length
}

describe('body frames', () => {
  it('frames a body with room in place, once; a second framing copies and leaves the first intact', () => {
    for (const size of [0, 23, 24, 255, 256, 70_000]) {
      const text = JSON.stringify({ pad: 'x'.repeat(size) })
      const body = roomy(text)
      const expected = encodeBodyFrame(MsgType.Call, CALL_ID, Buffer.from(text))
      const first = encodeBodyFrame(MsgType.Call, CALL_ID, body)
      assert.ok(first.equals(expected), `size ${size}`)
      assert.ok(overlaps(first, body) && first.byteOffset < body.byteOffset, 'framed in place')
      const second = encodeBodyFrame(MsgType.Call, 'another-id', body)
      assert.ok(!overlaps(second, body), 'a copy')
      assert.ok(first.equals(expected), 'first frame untouched')
      const parsed = parseCall(second.subarray(FRAME_HEADER_BYTES))
      assert.equal(parsed.callId, 'another-id')
      assert.equal(parsed.body.toString(), text)
    }
  })

  it('a call id longer than the reserved room falls back to a copy', () => {
    const body = roomy('{"a":1}')
    const longId = 'i'.repeat(100)
    const frame = encodeBodyFrame(MsgType.Call, longId, body)
    assert.ok(!overlaps(frame, body))
    assert.equal(parseCall(frame.subarray(FRAME_HEADER_BYTES)).callId, longId)
  })

  it('encodes a string body as UTF-8 straight into the frame', () => {
    const text = '{"é":"ü","n":1}'
    assert.ok(encodeBodyFrame(MsgType.Response, CALL_ID, text).equals(encodeBodyFrame(MsgType.Response, CALL_ID, Buffer.from(text))))
  })

  it('readBody fills a buffer with frame room, declared or chunked', async () => {
    const bodies: Buffer[] = []
    const server = createServer((req: IncomingMessage, res) => {
      readBody(req, 1 << 20, undefined, allocBodyWithFrameRoom).then(b => { bodies.push(b); res.end('ok') }, () => { res.statusCode = 400; res.end() })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const post = async (chunks: string[], declared: boolean): Promise<number> => await new Promise<number>((resolve, reject) => {
      const total = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0)
      const req = request({ host: '127.0.0.1', port, method: 'POST', agent: false, headers: declared ? { 'content-length': total } : {} }, res => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      for (const c of chunks) req.write(c)
      req.end()
    })
    try {
      assert.equal(await post(['{"a":', '"', 'y'.repeat(100_000), '"}'], true), 200)
      assert.equal(await post(['{"b":', '2}'], false), 200)
      assert.equal(bodies.length, 2)
      const [declared, chunked] = bodies as [Buffer, Buffer]
      assert.equal((JSON.parse(declared.toString()) as { a: string }).a.length, 100_000)
      assert.equal(chunked.toString(), '{"b":2}')
      for (const b of bodies) assert.equal(encodeBodyFrame(MsgType.Call, CALL_ID, b).buffer, b.buffer, 'framed in place')
    } finally {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  })
})
