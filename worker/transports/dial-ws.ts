/**
 * Dials the relay's WebSocket endpoint (`wss://host/v1/relay/ws`, subprotocol
 * `iicp-relay.v1`) and returns it as a byte stream carrying the relay-accept protocol.
 * Certificates are always verified; HTTPS_PROXY is honoured through the agent.
 */
import type { Agent } from 'node:http'
import { deadline, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES } from '../../src/limits.ts'
import type { ByteStream } from '../../src/transport/frame-connection.ts'
import { RELAY_WS_PROTOCOL } from '../../src/transport/websocket-protocol.ts'
import { batchWebSocketWrites } from '../../src/transport/websocket-writes.ts'
import { trustContext } from './agent.ts'
import { awaitOpen } from './await-open.ts'
import { certificateError } from './tls-errors.ts'

/** Options of {@link dialWebSocket}. */
export interface DialWebSocketOptions {
  /** Extra trusted CA (PEM); ignored when `agent` is given (the agent carries it). */
  ca?: string | undefined
  /** Agent for the upgrade request (a proxy tunnel); default: a direct connection. */
  agent?: Agent | undefined
  /** Deadline for connect, TLS and the upgrade. */
  timeoutMs: number
  signal?: AbortSignal | undefined
}

/**
 * Opens the WebSocket. Rejects with ERR_TLS_CERTIFICATE, ERR_PROXY, ERR_CONNECT_TIMEOUT,
 * ERR_CONNECTION_CLOSED (refused, or an HTTP answer instead of the upgrade) or ERR_ABORTED.
 */
export async function dialWebSocket (url: URL, o: DialWebSocketOptions): Promise<ByteStream> {
  throwIfAborted(o.signal, 'dial')
  // Loaded on first use: a worker that never dials a WebSocket does not carry `ws` in its heap.
  const { WebSocket, createWebSocketStream } = await import('ws')
  const where = url.host
  const limit = deadline(o.timeoutMs, o.signal, ErrorCode.ConnectTimeout, `WebSocket connect to ${url.href} timed out after ${o.timeoutMs} ms`)
  const ws = new WebSocket(url, [RELAY_WS_PROTOCOL], {
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_PAYLOAD_BYTES + FRAME_HEADER_BYTES,
    handshakeTimeout: o.timeoutMs,
    ...(o.agent === undefined ? {} : { agent: o.agent }),
    ...(o.agent === undefined && o.ca !== undefined ? { secureContext: trustContext(o.ca) } : {})
  })
  // ws reports a terminated handshake on a later tick; this keeps such late errors from being unhandled.
  ws.on('error', () => {})
  try {
    await awaitOpen(ws, 'open', limit.signal, `WebSocket connect to ${url.href}`, err => err instanceof ToolkitError
      ? err
      : certificateError(err, where) ?? new ToolkitError(ErrorCode.ConnectionClosed, `WebSocket connect to ${url.href} failed: ${err.message}`, { cause: err }))
    const stream = batchWebSocketWrites(createWebSocketStream(ws), ws) as ByteStream & { remoteAddress?: string }
    stream.remoteAddress = url.hostname
    return stream
  } catch (err) {
    ws.terminate()
    throw err
  } finally {
    limit.clear()
  }
}
