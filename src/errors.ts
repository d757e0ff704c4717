/**
 * The toolkit's error catalogue. Callers branch on `err.code`, never on the message:
 * codes are API, messages are not. Every code is documented in the README "Errors" table
 * (a test checks both directions).
 */
export const ErrorCode = {
  /** A frame did not start with the `IICP` magic. */
  FrameMagic: 'ERR_FRAME_MAGIC',
  /** A frame's length field exceeds the payload limit (16 MiB by default). */
  FrameTooLarge: 'ERR_FRAME_TOO_LARGE',
  /** A payload was not acceptable CBOR (tags, indefinite lengths, duplicate keys, trailing bytes, …). */
  CborInvalid: 'ERR_CBOR_INVALID',
  /** The peer broke the relay protocol (unexpected frame type, missing or ill-typed field). */
  Protocol: 'ERR_PROTOCOL',
  /** A TCP connect did not complete within its deadline. */
  ConnectTimeout: 'ERR_CONNECT_TIMEOUT',
  /** A handshake step (INIT/ACK, RELAY_BIND/RELAY_ACK) did not complete within its deadline. */
  HandshakeTimeout: 'ERR_HANDSHAKE_TIMEOUT',
  /** The connection closed (EOF, reset, CLOSE frame) while something was still waiting on it. */
  ConnectionClosed: 'ERR_CONNECTION_CLOSED',
  /** Nothing accepted the TCP connection (ECONNREFUSED): wrong host or port, or the peer is not running. */
  ConnectionRefused: 'ERR_CONNECTION_REFUSED',
  /** No frame arrived from the peer within the idle deadline. */
  IdleTimeout: 'ERR_IDLE_TIMEOUT',
  /** The operation was cancelled through its AbortSignal or by shutdown. */
  Aborted: 'ERR_ABORTED',
  /** The relay refused RELAY_BIND; `details.reason` holds the relay's reason text. */
  BindRejected: 'ERR_BIND_REJECTED',
  /** A bind ticket failed verification. */
  TicketInvalid: 'ERR_TICKET_INVALID',
  /** Strict mode and no usable bind ticket. */
  TicketRequired: 'ERR_TICKET_REQUIRED',
  /** The bind ticket's jti was already consumed. */
  TicketReplayed: 'ERR_TICKET_REPLAYED',
  /** Fetching a bind ticket from the directory failed. */
  TicketFetch: 'ERR_TICKET_FETCH',
  /** No alive relay session exists for the worker id. */
  SessionNotFound: 'ERR_SESSION_NOT_FOUND',
  /** The session ended while a call was pending on it. */
  SessionClosed: 'ERR_SESSION_CLOSED',
  /** The session already has its maximum number of calls in flight. */
  SessionBusy: 'ERR_SESSION_BUSY',
  /** A relay or worker is at its configured capacity. */
  Capacity: 'ERR_CAPACITY',
  /** The worker did not answer a forwarded call within the forward timeout. */
  ForwardTimeout: 'ERR_FORWARD_TIMEOUT',
  /** The worker answered with an error object instead of a result. */
  WorkerError: 'ERR_WORKER_ERROR',
  /** The worker's answer could not be parsed as a JSON object. */
  BadResult: 'ERR_BAD_RESULT',
  /** A lifecycle stream broke its sequence rules; `details.reason` holds the upstream code. */
  StreamViolation: 'ERR_STREAM_VIOLATION',
  /** A relay fleet's shared state (Redis) could not be reached in time; the call was not forwarded. */
  FleetUnavailable: 'ERR_FLEET_UNAVAILABLE',
  /** A relay-to-relay call inside a fleet failed (owner unreachable, refused, or broken mid-answer). */
  FleetLink: 'ERR_FLEET_LINK',
  /** A request body exceeded its size limit. */
  BodyTooLarge: 'ERR_BODY_TOO_LARGE',
  /** A request was malformed (bad JSON, missing field). */
  BadRequest: 'ERR_BAD_REQUEST',
  /** A task handler threw or rejected. */
  HandlerFailed: 'ERR_HANDLER_FAILED',
  /** The local HTTP backend failed, timed out or answered with something unusable. */
  BackendFailed: 'ERR_BACKEND_FAILED',
  /** A directory request (re-registration) failed. */
  Directory: 'ERR_DIRECTORY',
  /** A STUN transaction got no valid answer within its deadline. */
  StunTimeout: 'ERR_STUN_TIMEOUT',
  /** A STUN server answered with an error response. */
  StunErrorResponse: 'ERR_STUN_ERROR_RESPONSE',
  /** A STUN message could not be parsed or failed validation (FINGERPRINT, transaction id). */
  StunInvalid: 'ERR_STUN_INVALID',
  /** No UPnP-IGD or NAT-PMP gateway answered. */
  PortMapUnavailable: 'ERR_PORTMAP_UNAVAILABLE',
  /** The gateway refused or failed a port mapping or pinhole request. */
  PortMapFailed: 'ERR_PORTMAP_FAILED',
  /** An IP address or host:port string is malformed. */
  InvalidAddress: 'ERR_INVALID_ADDRESS',
  /** A dial-back reflector request failed. */
  Reflector: 'ERR_REFLECTOR',
  /** The dial-back reflector refused the request because of its rate limit. */
  ReflectorRateLimited: 'ERR_REFLECTOR_RATE_LIMITED',
  /** A direct (ICE) path to a worker did not open in time, was refused, or stopped answering; `details.callId` names an unanswered call. */
  DirectPath: 'ERR_DIRECT_PATH',
  /** A TLS peer's certificate was refused (untrusted issuer, wrong host name, expired); `details.reason` holds the TLS code. */
  TlsCertificate: 'ERR_TLS_CERTIFICATE',
  /** An HTTP CONNECT proxy refused or failed the tunnel. */
  Proxy: 'ERR_PROXY',
  /** An option or configuration value is invalid. */
  InvalidConfig: 'ERR_INVALID_CONFIG',
  /** A command-line usage error (exit code 2 or 3). */
  Usage: 'ERR_USAGE'
} as const

/** One of the toolkit's stable error codes. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

/** Options for {@link ToolkitError}: the low-level `cause` and structured details. */
export interface ToolkitErrorOptions extends ErrorOptions {
  /** Structured, loggable context (never secrets). */
  details?: Record<string, unknown>
}

/**
 * The one error class the toolkit throws. Low-level errors are kept as `cause`.
 *
 * @example
 * ```ts
 * try { await worker.start() } catch (err) {
 *   if (isToolkitError(err, ErrorCode.BindRejected)) console.log(err.details?.reason)
 * }
 * ```
 */
export class ToolkitError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode
  /** Structured context, if any. */
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message: string, options: ToolkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ToolkitError'
    this.code = code
    this.details = options.details
  }
}

/** True when `err` is a {@link ToolkitError}, optionally with the given code. */
export function isToolkitError (err: unknown, code?: ErrorCode): err is ToolkitError {
  return err instanceof ToolkitError && (code === undefined || err.code === code)
}

/** Renders any thrown value as a short message for logs and answers. */
export function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message
  if (typeof err === 'string') return err
  try {
    return JSON.stringify(err) ?? String(err)
  } catch {
    return String(err)
  }
}

/**
 * The IICP wire error codes the relay puts into HTTP error bodies
 * (`{"error":{"code","message"}}`), as the upstream SDKs use them (spec §3.9).
 */
export const IicpCode = {
  /** `/v1/relay` without `target_node_id` or `task` (422). */
  MissingFields: 'IICP-E000',
  /** Malformed request: invalid JSON (400) or a body over the size limit (413). */
  InvalidRequest: 'IICP-E001',
  /** Capacity: too many calls in flight for the worker (429, with Retry-After). */
  Capacity: 'IICP-E021',
  /** No alive relay session for this worker (404). */
  NoSession: 'IICP-E030',
  /** Forwarding through the relay session failed (502). */
  ForwardFailed: 'IICP-E031',
  /**
   * Long-poll API: invalid or missing session token (401). Upstream uses E021 here although the
   * core catalogue gives E021 to "worker at capacity"; the relay follows upstream on the wire.
   */
  BadSessionToken: 'IICP-E021',
  /** Long-poll bind: the worker id has an alive session (409). */
  AliveRebind: 'IICP-E038',
  /** Long-poll bind: rate limited (429) or the relay is at session capacity (503). */
  BindLimited: 'IICP-E039',
  /** Long-poll bind: bind ticket invalid or required (401), or replayed (409). */
  BindTicket: 'IICP-E040',
  /** Directory register refusal (422, prefix of a field message): the endpoint is not publicly routable. */
  DirectoryNotRoutable: 'IICP-E035',
  /** Directory register refusal (422): the directory's dial-back to `{endpoint}/iicp/health` failed. */
  DirectoryDialBack: 'IICP-E036'
} as const

/** One of the IICP wire error codes used in HTTP error bodies. */
export type IicpCode = typeof IicpCode[keyof typeof IicpCode]
