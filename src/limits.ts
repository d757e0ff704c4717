/**
 * Named defaults and limits, with their units in the name. Every buffer, queue, connection
 * count and wait in the toolkit is bounded by one of these (or by an option that defaults to one).
 */

/** IICP frame header size in bytes (magic 4, version, type, flags, reserved, length u32be). */
export const FRAME_HEADER_BYTES = 12
/** Largest payload a frame may carry: 16 MiB, as the upstream relay and worker readers enforce. */
export const MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024

/**
 * Largest payload of a control frame (INIT, RELAY_BIND, PING, CLOSE): 32 KiB, room for a
 * RELAY_BIND with a ticket and a long model list; a larger announced length closes the
 * connection as soon as the header arrives.
 */
export const MAX_CONTROL_PAYLOAD_BYTES = 32 * 1024
/**
 * Most CBOR data items one frame payload may hold. The hot CALL/RESPONSE shape is 5 items;
 * lifecycle events a few dozen. Bounds decode work (cborg spends about 0.2–0.8 µs per item).
 */
export const MAX_CBOR_ITEMS = 16_384
/** CBOR items any payload may hold; larger payloads earn one more per {@link CBOR_BYTES_PER_ITEM} bytes, up to {@link MAX_CBOR_ITEMS}. */
export const CBOR_ITEM_BASE = 1024
/** Payload bytes that allow one more CBOR item beyond {@link CBOR_ITEM_BASE}. */
export const CBOR_BYTES_PER_ITEM = 2
/** Most CBOR items a control frame (RELAY_BIND, PING) may hold: a bind's keys, ticket and up to ~1,000 models. */
export const MAX_CONTROL_CBOR_ITEMS = 1024
/** Most CBOR items skipped while looking for a call id in a payload that failed to parse (no structure is built). */
export const MAX_CBOR_SKIP_ITEMS = 1024 * 1024
/** Deepest CBOR nesting of maps and arrays in one frame payload. */
export const MAX_CBOR_DEPTH = 16
/**
 * Maps and arrays one payload may hold: this base plus one per {@link CBOR_BYTES_PER_CONTAINER}
 * payload bytes, so the decoded structure stays within a small multiple of the bytes received.
 */
export const CBOR_CONTAINER_BASE = 64
/** Payload bytes that allow one more CBOR map or array beyond {@link CBOR_CONTAINER_BASE}. */
export const CBOR_BYTES_PER_CONTAINER = 16

/** Share of the machine's memory the relay's inbound budget (bytes in partial frames, all sessions) defaults to. */
export const INBOUND_BUDGET_MEMORY_FRACTION = 1 / 16
/** Smallest default inbound budget (two largest frames). */
export const MIN_INBOUND_BUDGET_BYTES = 32 * 1024 * 1024
/** Largest default inbound budget. */
export const MAX_DEFAULT_INBOUND_BUDGET_BYTES = 1024 * 1024 * 1024
/** A frame must arrive at least this fast on average after {@link FRAME_GRACE_MS}, else its connection is closed. */
export const MIN_FRAME_BYTES_PER_SECOND = 64 * 1024
/** Time every inbound frame gets on top of its length at {@link MIN_FRAME_BYTES_PER_SECOND}. */
export const FRAME_GRACE_MS = 10_000

/** A bind ticket's lifetime as the directory issues it (directory-contract.md: `exp = iat + 120`). */
export const BIND_TICKET_LIFETIME_S = 120
/** Clock difference the relay tolerates between the directory and itself for ticket `iat`/`exp`. */
export const BIND_TICKET_CLOCK_SKEW_S = 30
/** How long a worker id's last holder (its source) keeps the rebind exemption from the bind rate after its session ended. */
export const REBIND_GRACE_MS = 5 * 60_000

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
/**
 * Listen backlog of the relay's listeners (the kernel caps it at net.core.somaxconn). Node's
 * default, 511, overflowed under a burst of 4,500 connections: the overflow got no answer.
 */
export const LISTEN_BACKLOG = 4096
/** Default HTTP request body limit for forwarded tasks. */
export const MAX_REQUEST_BODY_BYTES = 8 * 1024 * 1024
/** Buffered lifecycle events per streamed call before `relay_backpressure_exceeded`. */
export const MAX_STREAM_EVENTS = 32
/** Bytes queued on a socket beyond which writers must wait for 'drain'. */
export const SOCKET_HIGH_WATER_BYTES = 1024 * 1024

/** Worker reconnect back-off: first delay. */
export const RECONNECT_MIN_DELAY_MS = 2_000
/**
 * Worker reconnect back-off: cap. Upstream caps at 60 s; 20 s brings every worker of a restarted
 * relay back within 20 s of the restart (10,000 workers after a 20 s outage: `npm run bench:scale`),
 * at the cost of one refused connect per worker every 20 s while a relay stays down.
 */
export const RECONNECT_MAX_DELAY_MS = 20_000
/** Default maximum tasks a worker runs at once. */
export const WORKER_MAX_CONCURRENT = 64
/** Default local HTTP backend timeout. */
export const BACKEND_TIMEOUT_MS = 120_000
/** Grace period for in-flight tasks when a worker stops. */
export const STOP_GRACE_MS = 5_000
/** Directory HTTP request timeout (ticket fetch, re-registration). */
export const DIRECTORY_TIMEOUT_MS = 10_000

/**
 * A task or answer of at least this many bytes crosses the relay as the chunks it arrived in
 * (HTTP body reads, frame payload reads), never joined into one buffer; smaller ones are joined
 * (one chunk, usually), which is cheaper to handle.
 */
export const CHUNKED_BODY_BYTES = 64 * 1024
