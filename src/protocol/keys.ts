/**
 * CBOR map keys of the relay-port messages (spec §2.5), named per message: the same integer
 * means different fields in different messages (key 1 is RELAY_BIND's worker_id but
 * RELAY_ACK's status).
 */

/** INIT and ACK: `{1: version}`. */
export const HandshakeKey = { Version: 1 } as const

/** RELAY_BIND: `{1: worker_id, 2: intent, 3: [models], 4?: ticket}`. */
export const RelayBindKey = { WorkerId: 1, Intent: 2, Models: 3, Ticket: 4 } as const

/** RELAY_ACK: `{1: "ok"|"error", 2: worker_id, 3?: reason, 4?: http_port}`. */
export const RelayAckKey = { Status: 1, WorkerId: 2, Reason: 3, HttpPort: 4 } as const

/** CALL and buffered RESPONSE: `{5: body, 15: call_id}`; a stream CALL adds `2: session_id, 24: task_id`. */
export const CallKey = { SessionId: 2, Body: 5, CallId: 15, TaskId: 24 } as const

/**
 * Lifecycle RESPONSE: `{1: version, 2: session_id, 3: call_id, 4: status, 5?: result, 6?: error,
 * 7?: tokens_used, 12: is_final, 13: lifecycle}`; key 13's presence marks it.
 */
export const LifecycleKey = {
  Version: 1, SessionId: 2, CallId: 3, Status: 4, Result: 5, Error: 6, TokensUsed: 7, IsFinal: 12, Lifecycle: 13
} as const

/** The lifecycle block (key 13): `{1: task_id, 2: sequence, 3: event, 4: is_final}`. */
export const LifecycleBlockKey = { TaskId: 1, Sequence: 2, Event: 3, IsFinal: 4 } as const

/** A lifecycle error (key 6): `{1: code, 2: message}`. */
export const LifecycleErrorKey = { Code: 1, Message: 2 } as const

/** PING and PONG: `{1: echo}`. */
export const PingKey = { Echo: 1 } as const
