/**
 * `iicp-relay-toolkit/nat/stun`: the STUN codec (RFC 5389/8489, RFC 5780 attributes), client
 * transactions with RFC 5389 retransmission, RFC 5780 NAT behaviour discovery, and a Binding
 * server. `iicp-relay-toolkit/nat` re-exports only the client and server.
 */
export {
  AttributeType, MAGIC_COOKIE, MAX_SOFTWARE_BYTES, MAX_USERNAME_BYTES,
  decodeAddress, decodeChangeRequest, decodeErrorCode, decodeResponsePort, decodeText, decodeUnknownAttributes, decodeXorAddress,
  encodeAddress, encodeChangeRequest, encodeErrorCode, encodeResponsePort, encodeText, encodeUnknownAttributes, encodeXorAddress,
  formatAddress, isComprehensionRequired
} from './attributes.ts'
export type { ChangeRequest, StunAddress, StunAttribute, StunErrorCode, TransportAddress } from './attributes.ts'
export {
  FINGERPRINT_XOR, HEADER_BYTES, MAX_ATTRIBUTES, StunMethod, TRANSACTION_ID_BYTES,
  appendFingerprint, appendMessageIntegrity, decodeMessage, encodeMessage, getAttribute, looksLikeStun,
  messageType, newTransactionId, splitMessageType, verifyMessageIntegrity
} from './codec.ts'
export type { DecodedStunMessage, EncodeOptions, IntegrityAlgorithm, StunClass, StunMessageInit } from './codec.ts'
export {
  DEFAULT_LAST_WAIT_MULTIPLIER, DEFAULT_MAX_REQUESTS, DEFAULT_RTO_MS, retransmissionScheduleMs, stunTransaction
} from './transaction.ts'
export type { StunTransactionOptions, StunTransactionResult } from './transaction.ts'
export { bindingRequestAttributes, parseBindingResponse, stunBinding } from './binding.ts'
export type { BindingResponse, StunBindingOptions, StunBindingResult } from './binding.ts'
export { DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS, discoverNatBehavior } from './behavior.ts'
export type { NatBehavior, NatBehaviorOptions, NatBehaviorResult, NatBehaviorServerResult, StunServerAddress } from './behavior.ts'
export { DEFAULT_STUN_SOFTWARE, MAX_PADDING_BYTES, MAX_STUN_DATAGRAM_BYTES, createStunServer } from './server.ts'
export type { StunRateLimit, StunServer, StunServerInfo, StunServerOptions, StunServerStats } from './server.ts'
