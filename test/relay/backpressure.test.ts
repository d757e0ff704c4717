/**
 * Socket writes to a worker honour backpressure: a worker that stops reading makes callers
 * wait (and time out) instead of the relay queueing every CALL in memory.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { http, startRelay } from '../helpers/relay-harness.ts'

const MiB = 1024 * 1024

async function bytesOut (port: number): Promise<number> {
  const text = (await http(port, '/metrics')).body.toString('utf8')
  const m = /^iicp_relay_bytes_total\{direction="out"\} (\d+)$/m.exec(text)
  return Number(m?.[1] ?? Number.NaN)
}

describe('write backpressure', () => {
  it('a worker that does not read gets at most the high-water mark plus kernel buffers; the rest wait and time out', async () => {
    const h = await startRelay({ forwardTimeoutMs: 500, maxRequestBodyBytes: 2 * MiB })
    try {
      const w = await h.worker('slow')
      w.socket.pause()
      const body = Buffer.from(JSON.stringify({ task_id: 't', pad: 'x'.repeat(MiB) }))
      const posted = 24
      const answers = await Promise.all(Array.from({ length: posted }, async () => await http(h.httpPort, '/v1/relay-for/slow/v1/task', { body, timeoutMs: 10_000 })))
      for (const a of answers) assert.equal(a.status, 502)
      const out = await bytesOut(h.httpPort)
      // Kernel buffers on loopback absorb a few MiB; the relay itself holds at most 1 MiB + one frame.
      assert.ok(out < 12 * MiB, `wrote ${out} bytes for ${posted} MiB of tasks`)
      // Once the worker reads again, the session still works.
      w.serve(() => ({ result: 'ok' }))
      w.socket.resume()
      const ok = await http(h.httpPort, '/v1/relay-for/slow/v1/task', { body: { task_id: 'small' }, timeoutMs: 10_000 })
      assert.equal(ok.status, 200)
    } finally {
      await h.close()
    }
  })
})
