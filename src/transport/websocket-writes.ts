/**
 * Batched writes for the byte stream `ws`'s `createWebSocketStream` makes of a WebSocket. That
 * stream has only `_write`, which sends each written chunk as its own message and takes the next
 * one only once the socket has taken the previous: a relay frame written as its parts (head,
 * body, call id), and every frame of a busy event-loop turn, went out one message and one TLS
 * record at a time, while plain TCP writes the whole turn in one `writev`. With `_writev` the
 * chunks the stream buffered (a corked turn, or those queued behind a write in progress) leave
 * together: joined into one message up to {@link JOIN_MAX_BYTES}, else as consecutive messages
 * without waiting in between. The receiving side reads a byte stream, so message boundaries do
 * not matter; order and backpressure (the callback comes when `ws` has written the last one)
 * are kept.
 */
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'

/** Up to this many bytes in all, the buffered chunks are joined into one message (a copy); above, each is sent as it is. */
export const JOIN_MAX_BYTES = 64 * 1024

/** Gives `stream` (from `createWebSocketStream(ws)`, made once `ws` is open) a `_writev` that sends its buffered chunks together. */
export function batchWebSocketWrites<T extends Duplex> (stream: T, ws: WebSocket): T {
  stream._writev = (chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void => {
    let total = 0
    for (const c of chunks) total += c.chunk.length
    try {
      if (total <= JOIN_MAX_BYTES) {
        ws.send(Buffer.concat(chunks.map(c => c.chunk), total), callback)
        return
      }
      const last = chunks.length - 1
      for (let i = 0; i < last; i++) ws.send((chunks[i] as { chunk: Buffer }).chunk)
      ws.send((chunks[last] as { chunk: Buffer }).chunk, callback)
    } catch (err) {
      // ws throws only before the socket is open, which the stream's makers wait for.
      callback(err as Error)
    }
  }
  return stream
}
