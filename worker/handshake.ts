/**
 * The worker side of the relay handshake as a small synchronous state machine:
 * send `INIT {1:1}`, expect `ACK`, send `RELAY_BIND`, expect `RELAY_ACK` (spec §3.2 steps 2–4).
 * It is fed frames as they arrive, so a CALL that follows RELAY_ACK in the same TCP read is
 * dispatched by the bound session, never lost. Deadlines are the session's job.
 */
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { DEFAULT_RELAY_HTTP_PORT } from '../src/limits.ts'
import { MsgType, type Frame } from '../src/protocol/frame.ts'
import { encodeInit, encodeRelayBind, parseRelayAck, type RelayBind } from '../src/protocol/messages.ts'

/** Where the handshake stands: waiting for ACK, waiting for RELAY_ACK, or bound. */
export type HandshakePhase = 'await-ack' | 'await-relay-ack' | 'bound'

/** What to do after a handshake frame. */
export type HandshakeStep =
  | { kind: 'send', frame: Buffer }
  | { kind: 'bound', relayHttpPort: number }

/** A handshake in progress. */
export interface Handshake {
  /** The current phase. */
  readonly phase: HandshakePhase
  /** The first frame to send: `INIT {1:1}`. */
  readonly init: Buffer
  /**
   * Feeds the next frame from the relay. Throws ERR_PROTOCOL for an unexpected frame type or
   * payload, and for a refused bind ERR_BIND_REJECTED (or ERR_TICKET_INVALID / _REQUIRED /
   * _REPLAYED for ticket refusals) with the relay's reason in `details.reason`.
   */
  onFrame: (frame: Frame) => HandshakeStep
}

/** Maps the relay's RELAY_ACK error reasons (spec §3.4) to error codes. */
const REASON_CODES: Record<string, ToolkitError['code']> = {
  'relay bind ticket invalid': ErrorCode.TicketInvalid,
  'relay bind ticket required': ErrorCode.TicketRequired,
  'relay bind ticket replayed': ErrorCode.TicketReplayed,
  'relay at session capacity': ErrorCode.Capacity
}

/** The error a refused bind throws. */
function bindRejectedError (reason: string): ToolkitError {
  return new ToolkitError(REASON_CODES[reason] ?? ErrorCode.BindRejected, `relay refused the bind: ${reason}`, { details: { reason } })
}

/** Starts a handshake for `bind`. Send {@link Handshake.init} first, then feed every frame to `onFrame`. */
export function createHandshake (bind: RelayBind): Handshake {
  let phase: HandshakePhase = 'await-ack'
  return {
    get phase () { return phase },
    init: encodeInit(),
    onFrame (frame: Frame): HandshakeStep {
      if (phase === 'await-ack') {
        if (frame.type !== MsgType.Ack) throw new ToolkitError(ErrorCode.Protocol, `expected ACK after INIT, got frame type 0x${frame.type.toString(16)}`)
        phase = 'await-relay-ack'
        return { kind: 'send', frame: encodeRelayBind(bind) }
      }
      if (phase === 'await-relay-ack') {
        if (frame.type !== MsgType.RelayAck) throw new ToolkitError(ErrorCode.Protocol, `expected RELAY_ACK after RELAY_BIND, got frame type 0x${frame.type.toString(16)}`)
        const ack = parseRelayAck(frame.payload)
        if (!ack.ok) throw bindRejectedError(ack.reason)
        phase = 'bound'
        return { kind: 'bound', relayHttpPort: ack.httpPort ?? DEFAULT_RELAY_HTTP_PORT }
      }
      throw new ToolkitError(ErrorCode.Protocol, 'handshake already complete')
    }
  }
}
