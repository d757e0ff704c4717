/**
 * Large tasks and answers (CHUNKED_BODY_BYTES and up) cross the relay as the chunks they
 * arrived in: the same CALL bytes, the same spliced HTTP answers and the same refusals as the
 * one-buffer path, against a scripted worker on loopback.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { parseCall } from '../../src/protocol/messages.ts'
import { CHUNKED_BODY_BYTES } from '../../src/limits.ts'
import { http, startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

const MiB = 1024 * 1024
const PAD = 'x'.repeat(MiB)

async function nextCall (p: RelayPeer): Promise<{ callId: string, body: Buffer }> {
  const frame = await p.nextFrame(10_000)
  assert.equal(frame.type, MsgType.Call)
  const call = parseCall(frame.payload)
  return { callId: call.callId, body: call.body }
}

/** Runs `fn` against a relay with one scripted worker `w1`. */
async function withWorker (fn: (h: RelayHarness, p: RelayPeer) => Promise<void>): Promise<void> {
  const h = await startRelay({ maxRequestBodyBytes: 4 * MiB })
  try {
    await fn(h, await h.worker('w1'))
  } finally {
    await h.close()
  }
}

function post (h: RelayHarness, body: string | Buffer): ReturnType<typeof http> {
  return http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: Buffer.from(body), timeoutMs: 10_000 })
}

describe('large bodies through the relay', () => {
  it('a 1 MiB task reaches the worker byte for byte, and its 1 MiB answer is spliced after the relay\'s keys', async () => {
    await withWorker(async (h, p) => {
      // task_id after the large member, escaped: found by the streaming scan.
      const task = `{"intent":"urn:x","payload":{"pad":"${PAD}"},"task_id":"t\\u002dbig"}`
      const answer = post(h, task)
      const call = await nextCall(p)
      assert.equal(call.body.toString(), task)
      const result = `{ "result" : {"echo":"${PAD}"} }`
      p.respond(call.callId, Buffer.from(result))
      const ans = await answer
      assert.equal(ans.status, 200)
      assert.equal(ans.body.toString(), `{"task_id":"t-big","status":"completed", "result" : {"echo":"${PAD}"} }`)
    })
  })

  it('a large answer in Rust key order, or with a key the fast path does not know, is answered the same', async () => {
    await withWorker(async (h, p) => {
      const result = Buffer.from(`{"result":"${PAD}"}`)
      for (const shape of ['rust', 'extra'] as const) {
        const answer = post(h, `{"task_id":"t-${shape}","pad":"${'y'.repeat(CHUNKED_BODY_BYTES)}"}`)
        const { callId } = await nextCall(p)
        const id = Buffer.from(callId)
        const bstr = Buffer.from([0x5a, 0, 0, 0, 0])
        bstr.writeUInt32BE(result.length, 1)
        const payload = shape === 'rust'
          ? Buffer.concat([Buffer.from([0xa2, 0x0f, 0x78, id.length]), id, Buffer.from([0x05]), bstr, result])
          : Buffer.concat([Buffer.from([0xa3, 0x05]), bstr, result, Buffer.from([0x0f, 0x78, id.length]), id, Buffer.from([0x18, 0x63, 0xf5])])
        p.sendRaw(encodeFrame(MsgType.Response, payload))
        const ans = await answer
        assert.equal(ans.status, 200, shape)
        assert.deepEqual(ans.json(), { task_id: `t-${shape}`, status: 'completed', result: PAD })
      }
    })
  })

  it('a large worker failure is a 500 with the worker\'s error; a large answer that is not JSON is a 500 bad result', async () => {
    await withWorker(async (h, p) => {
      const failing = post(h, `{"task_id":"t-err","pad":"${PAD}"}`)
      const first = await nextCall(p)
      p.respond(first.callId, Buffer.from(`{"detail":"${PAD}","error":{"message":"model melted","code":7}}`))
      const ans = await failing
      assert.equal(ans.status, 500)
      const body = ans.json<{ task_id: string, status: string, error: unknown, detail: string }>()
      assert.deepEqual([body.task_id, body.status, body.error, body.detail.length], ['t-err', 'error', { message: 'model melted', code: 7 }, MiB])

      const garbled = post(h, `{"task_id":"t-bad","pad":"${PAD}"}`)
      const second = await nextCall(p)
      p.respond(second.callId, Buffer.from(`{"result":"${PAD}"`))
      const bad = await garbled
      assert.equal(bad.status, 500)
      assert.match(bad.json<{ error: { message: string } }>().error.message, /not valid JSON/)
    })
  })

  it('a large task that is not one JSON object is refused with 400 and never reaches the worker', async () => {
    await withWorker(async (h, p) => {
      for (const task of [`{"task_id":"t","pad":"${PAD}"`, `["${PAD}"]`, `{"pad":"${PAD}"} x`]) {
        const ans = await post(h, task)
        assert.equal(ans.status, 400, task.slice(-20))
        assert.equal(ans.json<{ error: { code: string } }>().error.code, 'IICP-E001')
      }
      // The session still works, and saw no CALL for the refused tasks.
      const answer = post(h, `{"task_id":"after","pad":"${PAD}"}`)
      const call = await nextCall(p)
      assert.equal((JSON.parse(call.body.toString()) as { task_id: string }).task_id, 'after')
      p.respond(call.callId, { result: 1 })
      assert.equal((await answer).status, 200)
    })
  })
})
