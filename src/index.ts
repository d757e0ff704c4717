/**
 * Shared core of the IICP relay toolkit: framing, relay messages, errors, logging, limits.
 * The relay, worker and NAT modules are exported from `./relay`, `./worker` and `./nat`.
 */
export { ErrorCode, IicpCode, ToolkitError, isToolkitError, errorMessage } from './errors.ts'
export type { ToolkitErrorOptions } from './errors.ts'
export { abortError, deadline, raceSignal, sleep, throwIfAborted } from './abort.ts'
export { createLogger, silentLogger, isLogLevel, LOG_LEVELS } from './log.ts'
export type { Logger, CreateLoggerOptions } from './log.ts'
export * from './limits.ts'
export { FRAME_MAGIC, FRAMING_VERSION, MsgType, FrameDecoder, decodeFrame, encodeFrame } from './protocol/frame.ts'
export type { Frame, FrameDecodeResult, FrameRejectReason } from './protocol/frame.ts'
export { ByteChunks } from './byte-chunks.ts'
export type { Bytes } from './byte-chunks.ts'
export { encodeCbor, decodeCbor, decodePayloadMap } from './protocol/cbor.ts'
export * from './protocol/messages.ts'
export * from './protocol/keys.ts'
export { FrameConnection } from './transport/frame-connection.ts'
export type { FrameConnectionOptions } from './transport/frame-connection.ts'
export {
  BIND_TICKET_SIGNING_PREFIX, BIND_TICKET_TYPE, verifyBindTicket, signBindTicket, bindTicketPublicKeyFromSeed
} from './protocol/bind-ticket.ts'
export type { BindTicketClaims, BindTicketRejectReason, BindTicketVerification, VerifyBindTicketOptions } from './protocol/bind-ticket.ts'
