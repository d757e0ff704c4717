/**
 * Composes the relay's extra transports around its relay-accept server: HTTPS on the HTTP
 * front, the TLS (`iicpsec://`) relay-accept port, the WebSocket endpoint, the long-poll API,
 * certificate reload, and the per-transport metrics. Every transport ends in
 * {@link AcceptServer.accept}, so all of them share one handshake, admission and registry.
 */
import type { Server } from 'node:http'
import type { Registry } from 'prom-client'
import type { Logger } from '../../src/log.ts'
import type { AcceptServer, RelayTransport } from '../accept-server.ts'
import type { HttpFrontTransports } from '../http-front.ts'
import type { BindOutcome } from '../metrics.ts'
import type { ResolvedRelayOptions } from '../options.ts'
import { LONG_POLL_PATH_PREFIX, LongPollApi } from './long-poll.ts'
import { createTransportMetrics } from './metrics.ts'
import { TlsAcceptListener, TlsCertificates } from './tls.ts'
import { attachWebSocketEndpoint } from './websocket.ts'

/** The relay's transports beyond plain TCP. */
export interface RelayTransports {
  /** What the HTTP front needs (TLS options, the long-poll routes). */
  readonly httpFront: HttpFrontTransports
  /** Records a bind decision by transport (the accept server's `onBind`). */
  readonly onBind: (outcome: BindOutcome, transport: RelayTransport) => void
  /** Attaches the WebSocket endpoint and certificate reloads to the (not yet listening) HTTP server. */
  attach: (httpServer: Server) => Promise<void>
  /** Starts the TLS relay-accept listener if configured; resolves with its port. */
  listen: () => Promise<number | undefined>
  /** Re-reads the certificate and key; throws ERR_INVALID_CONFIG (nothing changes) for bad files. */
  reloadTls: () => { notAfter: string } | undefined
  /** Stops taking new TLS and WebSocket connections; sessions belong to the accept server. */
  close: () => Promise<void>
}

/** Builds the transports for `acceptServer` (nothing listens until `listen`). Throws ERR_INVALID_CONFIG for unreadable certificates. */
export function createRelayTransports (opts: ResolvedRelayOptions, acceptServer: AcceptServer, registry: Registry, logger: Logger): RelayTransports {
  const metrics = createTransportMetrics(registry)
  const accept = (stream: Parameters<AcceptServer['accept']>[0], transport: RelayTransport): void => {
    metrics.connection(stream, transport)
    acceptServer.accept(stream, transport)
  }
  const certificates = opts.tls === undefined ? undefined : new TlsCertificates(opts.tls)
  const tlsListener = certificates === undefined || opts.tlsRelayPort === undefined
    ? undefined
    : new TlsAcceptListener({ certificates, handshakeTimeoutMs: opts.handshakeTimeoutMs, accept, logger })
  const longPoll = opts.longPoll
    ? new LongPollApi({ accept, holdMs: opts.pollHoldMs, handshakeTimeoutMs: opts.handshakeTimeoutMs, maxRequestBodyBytes: opts.maxRequestBodyBytes, logger })
    : undefined
  let detachWebSocket: (() => void) | undefined
  return {
    httpFront: {
      tls: certificates?.serverOptions,
      preRoute: longPoll === undefined ? undefined : { pathPrefix: LONG_POLL_PATH_PREFIX, handle: longPoll.handle.bind(longPoll) }
    },
    onBind: metrics.bind,
    async attach (httpServer) {
      if (certificates !== undefined) certificates.track(httpServer as unknown as Parameters<TlsCertificates['track']>[0])
      if (opts.webSocket) detachWebSocket = await attachWebSocketEndpoint(httpServer, { accept, secure: certificates !== undefined, logger })
    },
    async listen () {
      if (tlsListener === undefined || opts.tlsRelayPort === undefined) return undefined
      return await tlsListener.listen(opts.host, opts.tlsRelayPort)
    },
    reloadTls () {
      if (certificates === undefined) return undefined
      const loaded = certificates.reload()
      logger.info({ notAfter: loaded.notAfter }, 'TLS certificate reloaded')
      return loaded
    },
    async close () {
      detachWebSocket?.()
      detachWebSocket = undefined
      await tlsListener?.close()
    }
  }
}
