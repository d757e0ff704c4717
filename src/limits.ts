/**
 * Named defaults and limits, with their units in the name. Every buffer, queue, connection
 * count and wait in the toolkit is bounded by one of these (or by an option that defaults to one).
 */

/** IICP frame header size in bytes (magic 4, version, type, flags, reserved, length u32be). */
export const FRAME_HEADER_BYTES = 12
/** Largest payload a frame may carry: 16 MiB, as the upstream relay and worker readers enforce. */
export const MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024

/** Default relay HTTP port (HTTP front; advertised in RELAY_ACK key 4). */
export const DEFAULT_RELAY_HTTP_PORT = 9484
/** Default relay-accept port (workers dial this). */
export const DEFAULT_RELAY_ACCEPT_PORT = 9485

/** INIT and RELAY_BIND must both arrive within this long after connect. */
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** Worker-side TCP connect timeout. */
export const CONNECT_TIMEOUT_MS = 10_000
/** Worker keepalive PING interval. */
export const PING_INTERVAL_MS = 30_000
/** A session (either side) with no frame from the peer for this long is dead. */
export const IDLE_TIMEOUT_MS = 90_000

/** Default forward timeout for a call pushed into a relay session. */
export const FORWARD_TIMEOUT_MS = 120_000
/** Default maximum number of bound sessions per relay (upstream: 256). */
export const MAX_SESSIONS = 10_000
/** Default maximum calls in flight per bound session. */
export const MAX_CALLS_IN_FLIGHT_PER_SESSION = 256
/** Default maximum handshaking (not yet bound) connections per source IP. */
export const MAX_PENDING_CONNECTIONS_PER_IP = 16
/** Default maximum handshaking (not yet bound) connections in total. */
export const MAX_PENDING_CONNECTIONS = 1024
/** Default binds per source IP per window (upstream `IICP_RELAY_BIND_RATE_LIMIT`). */
export const BIND_RATE_LIMIT = 30
/** Bind rate-limit window. */
export const BIND_RATE_WINDOW_MS = 60_000
/** Most source IPs the bind rate limiter tracks; the oldest windows are dropped beyond it. */
export const MAX_BIND_RATE_SOURCES = 65_536
/** Tracked source IPs past which the bind rate limiter prunes expired windows. */
export const BIND_RATE_PRUNE_AT = 4096
/** Default maximum open HTTP connections on the relay's HTTP front. */
export const MAX_HTTP_CONNECTIONS = 10_000
/** An HTTP client must send its complete request headers within this long. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000
/** An HTTP client must send its complete request (headers and body) within this long. */
export const HTTP_REQUEST_TIMEOUT_MS = 60_000
/** Default HTTP request body limit for forwarded tasks. */
export const MAX_REQUEST_BODY_BYTES = 8 * 1024 * 1024
/** Buffered lifecycle events per streamed call before `relay_backpressure_exceeded`. */
export const MAX_STREAM_EVENTS = 32
/** Bytes queued on a socket beyond which writers must wait for 'drain'. */
export const SOCKET_HIGH_WATER_BYTES = 1024 * 1024

/** Worker reconnect back-off: first delay. */
export const RECONNECT_MIN_DELAY_MS = 2_000
/** Worker reconnect back-off: cap. */
export const RECONNECT_MAX_DELAY_MS = 60_000
/** Default maximum tasks a worker runs at once. */
export const WORKER_MAX_CONCURRENT = 64
/** Default local HTTP backend timeout. */
export const BACKEND_TIMEOUT_MS = 120_000
/** Grace period for in-flight tasks when a worker stops. */
export const STOP_GRACE_MS = 5_000
/** Directory HTTP request timeout (ticket fetch, re-registration). */
export const DIRECTORY_TIMEOUT_MS = 10_000
