/**
 * batchWebSocketWrites on a real WebSocket over loopback: what a corked turn writes leaves as one
 * message, a large batch as consecutive messages, in order; the write callback still waits for
 * `ws`, and a send on a closed socket fails the write instead of being lost. And `ws` masks
 * natively where `bufferutil` has a prebuilt binary.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws'
import { JOIN_MAX_BYTES, batchWebSocketWrites } from '../../src/transport/websocket-writes.ts'

/** A server that records every binary message it receives, and a client stream with batched writes. */
async function pair (): Promise<{ stream: Duplex, ws: WebSocket, messages: Buffer[], next: (n: number) => Promise<void>, close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await once(server, 'listening')
  const messages: Buffer[] = []
  let waiting: { n: number, resolve: () => void } | undefined
  server.on('connection', peer => {
    peer.on('message', (data: Buffer) => {
      messages.push(data)
      if (waiting !== undefined && messages.length >= waiting.n) waiting.resolve()
    })
  })
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: false })
  await once(ws, 'open')
  const stream = batchWebSocketWrites(createWebSocketStream(ws), ws)
  stream.on('error', () => {})
  return {
    stream,
    ws,
    messages,
    next: async n => {
      if (messages.length >= n) return
      await new Promise<void>(resolve => { waiting = { n, resolve } })
    },
    close: async () => {
      stream.destroy()
      for (const c of server.clients) c.terminate()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('batched WebSocket writes', () => {
  let p: Awaited<ReturnType<typeof pair>>
  before(async () => { p = await pair() })
  after(async () => { await p.close() })

  it('sends the chunks of one corked turn as one message, in order', async () => {
    const parts = [Buffer.from('head'), Buffer.from('-body-'), Buffer.from('tail'), Buffer.from('|next frame')]
    p.stream.cork()
    for (const part of parts) p.stream.write(part)
    process.nextTick(() => { p.stream.uncork() })
    await p.next(1)
    assert.equal(p.messages.length, 1)
    assert.equal(p.messages[0]?.toString(), 'head-body-tail|next frame')
  })

  it(`sends a batch over ${JOIN_MAX_BYTES} bytes as its chunks, unjoined and in order`, async () => {
    const start = p.messages.length
    const big = Array.from({ length: 3 }, (_, i) => Buffer.alloc(JOIN_MAX_BYTES, 0x61 + i))
    p.stream.cork()
    for (const b of big) p.stream.write(b)
    const written = new Promise<void>((resolve, reject) => { p.stream.write(Buffer.from('end'), err => { if (err == null) resolve(); else reject(err) }) })
    p.stream.uncork()
    await written
    await p.next(start + 4)
    const got = p.messages.slice(start)
    assert.deepEqual(got.map(m => m.length), [JOIN_MAX_BYTES, JOIN_MAX_BYTES, JOIN_MAX_BYTES, 3])
    assert.deepEqual(got.map(m => m[0]), [0x61, 0x62, 0x63, 0x65])
  })

  it('fails a batched write on a closed socket instead of dropping it', async () => {
    const { stream, ws, close } = await pair()
    ws.close()
    await once(ws, 'close')
    const failed = new Promise<Error | null | undefined>(resolve => {
      stream.cork()
      stream.write(Buffer.from('a'))
      stream.write(Buffer.from('b'), err => { resolve(err) })
      stream.uncork()
    })
    const err = await failed
    assert.ok(err instanceof Error, 'the write reports an error')
    await close()
  })
})

describe('native WebSocket masking', () => {
  it('loads bufferutil\'s prebuilt binding on Linux x64 (ws masks in JavaScript without it)', { skip: process.platform !== 'linux' || process.arch !== 'x64' ? 'bufferutil ships no prebuilt binary checked here for this platform' : false }, () => {
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask: (...args: unknown[]) => void }
    assert.match(Function.prototype.toString.call(bufferutil.mask), /\[native code\]/)
  })
})
