/** The relay's transport options (TLS, WebSocket, long-poll) and their validation. */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { TlsFiles } from './tls.ts'

/** Upstream's pull hold (spec §4.2). */
export const DEFAULT_POLL_HOLD_MS = 25_000

/** Transport options of {@link RelayOptions}. */
export interface RelayTransportOptions {
  /** Certificate and key (PEM files): the HTTP front becomes HTTPS; reload them with `relay.reloadTls()` (SIGHUP in the CLI). */
  tls?: TlsFiles
  /** Also accept TLS (`iicpsec://`) relay-accept connections on this port (0 = ephemeral); needs `tls`. */
  tlsRelayPort?: number
  /** Serve the relay-accept stream over WebSocket at `GET /v1/relay/ws`. @default true */
  webSocket?: boolean
  /** Serve the upstream long-poll worker API (`/v1/relay/bind|pull|result|unbind`). @default true */
  longPoll?: boolean
  /** How long `GET /v1/relay/pull` holds before 204; must be below `idleTimeoutMs`. @default 25000 */
  pollHoldMs?: number
}

/** {@link RelayTransportOptions} resolved. */
export interface ResolvedRelayTransportOptions {
  tls: TlsFiles | undefined
  tlsRelayPort: number | undefined
  webSocket: boolean
  longPoll: boolean
  pollHoldMs: number
}

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.InvalidConfig, message)
}

/** Applies defaults and validates against the idle timeout (the long-poll liveness window). Throws ERR_INVALID_CONFIG. */
export function resolveTransportOptions (o: RelayTransportOptions, idleTimeoutMs: number): ResolvedRelayTransportOptions {
  if (o.tls !== undefined && (o.tls.certFile === '' || o.tls.keyFile === '')) throw invalid('tls needs both certFile and keyFile')
  const tlsRelayPort = o.tlsRelayPort
  if (tlsRelayPort !== undefined) {
    if (!Number.isInteger(tlsRelayPort) || tlsRelayPort < 0 || tlsRelayPort > 65535) throw invalid(`tlsRelayPort must be an integer port 0-65535, got ${tlsRelayPort}`)
    if (o.tls === undefined) throw invalid('tlsRelayPort needs tls (certificate and key)')
  }
  const pollHoldMs = o.pollHoldMs ?? Math.min(DEFAULT_POLL_HOLD_MS, Math.floor(idleTimeoutMs / 2))
  if (!Number.isSafeInteger(pollHoldMs) || pollHoldMs < 1) throw invalid(`pollHoldMs must be a positive integer, got ${pollHoldMs}`)
  if (pollHoldMs >= idleTimeoutMs) throw invalid(`pollHoldMs (${pollHoldMs}) must be below idleTimeoutMs (${idleTimeoutMs}), or held pulls would count as idle`)
  return { tls: o.tls, tlsRelayPort, webSocket: o.webSocket ?? true, longPoll: o.longPoll ?? true, pollHoldMs }
}
