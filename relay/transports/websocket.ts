/**
 * The relay-accept byte stream over WebSocket: `GET /v1/relay/ws` on the HTTP front (so
 * `wss://relay.example.net/v1/relay/ws` on 443 when the front is HTTPS), subprotocol
 * `iicp-relay.v1`. Binary messages carry the exact bytes of a relay-accept TCP
 * connection (message boundaries mean nothing), and the stream goes into the same handshake,
 * admission, limits and registry. Uses `ws` (the project's WebSocket dependency).
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { unwrapIPv4Mapped } from '../../src/host-port.ts'
import type { Logger } from '../../src/log.ts'
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES } from '../../src/limits.ts'
import { RELAY_WS_PATH, RELAY_WS_PROTOCOL } from '../../src/transport/websocket-protocol.ts'
import { batchWebSocketWrites } from '../../src/transport/websocket-writes.ts'

/** A WebSocket connection as a byte stream, with the client's address. */
export type WebSocketByteStream = Duplex & { remoteAddress: string }

/** Where accepted WebSocket streams go. */
export interface WebSocketEndpointContext {
  /** Feeds the stream into the relay-accept server. */
  accept: (stream: WebSocketByteStream, transport: 'ws' | 'wss') => void
  /** True when the front is HTTPS (the transport label is then `wss`). */
  secure: boolean
  logger: Logger
}

/** Refuses an upgrade with a small HTTP answer and closes the socket. */
function refuse (socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** The subprotocols the client offered. */
function offered (req: IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '').split(',').map(p => p.trim()).filter(p => p !== '')
}

/**
 * Serves WebSocket upgrades on `server`; resolves with a function that stops taking new ones.
 * `ws` is loaded here, so a relay without the WebSocket transport does not carry it.
 */
export async function attachWebSocketEndpoint (server: Server, ctx: WebSocketEndpointContext): Promise<() => void> {
  const { WebSocketServer, createWebSocketStream } = await import('ws')
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // A message never needs to be larger than one whole frame.
    maxPayload: MAX_FRAME_PAYLOAD_BYTES + FRAME_HEADER_BYTES,
    handleProtocols: protocols => protocols.has(RELAY_WS_PROTOCOL) ? RELAY_WS_PROTOCOL : false
  })
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => { /* the stream's owner reports it */ })
    const path = (req.url ?? '/').split('?')[0]
    if (path !== RELAY_WS_PATH) { refuse(socket, 404, 'Not Found'); return }
    if (!offered(req).includes(RELAY_WS_PROTOCOL)) { refuse(socket, 400, 'Bad Request'); return }
    const ip = unwrapIPv4Mapped(req.socket.remoteAddress ?? '')
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const stream = batchWebSocketWrites(createWebSocketStream(ws), ws) as WebSocketByteStream
      stream.remoteAddress = ip
      ctx.accept(stream, ctx.secure ? 'wss' : 'ws')
    })
  }
  server.on('upgrade', onUpgrade)
  wss.on('error', (err) => { ctx.logger.warn({ err }, 'WebSocket endpoint error') })
  return () => {
    server.off('upgrade', onUpgrade)
    wss.close()
  }
}
