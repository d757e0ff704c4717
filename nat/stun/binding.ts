/**
 * The Binding method from the client side: build a Binding request (with the RFC 5780
 * CHANGE-REQUEST, RESPONSE-PORT and PADDING options) and read a Binding success response.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import {
  AttributeType, decodeAddress, decodeText, decodeXorAddress, encodeChangeRequest, encodeResponsePort,
  MAX_SOFTWARE_BYTES, sameTransportAddress, type ChangeRequest, type StunAddress, type StunAttribute
} from './attributes.ts'
import { getAttribute, StunMethod, type DecodedStunMessage } from './codec.ts'
import { stunTransaction, type StunTransactionOptions, type StunTransactionResult } from './transaction.ts'

/** What a Binding success response says. */
export interface BindingResponse {
  /** The reflexive address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
  mapped: StunAddress
  /** True when both XOR-MAPPED-ADDRESS and MAPPED-ADDRESS are present and differ (an ALG rewrote one). */
  algSuspected: boolean
  /** RESPONSE-ORIGIN, else the legacy SOURCE-ADDRESS. */
  responseOrigin: StunAddress | undefined
  /** OTHER-ADDRESS, else the legacy CHANGED-ADDRESS: the server's alternate IP and port. */
  otherAddress: StunAddress | undefined
  /** SOFTWARE, if sent. */
  software: string | undefined
}

/** Options for {@link stunBinding}: a transaction plus the RFC 5780 request attributes. */
export interface StunBindingOptions extends Omit<StunTransactionOptions, 'method' | 'attributes'> {
  /** Ask the server to answer from its alternate IP and/or port (RFC 5780 §7.2). */
  changeRequest?: ChangeRequest
  /** Ask the server to answer to this port (RFC 5780 §7.5). */
  responsePort?: number
  /** Add a PADDING attribute of this many bytes (RFC 5780 §7.6). @default none */
  paddingBytes?: number
  /** Further request attributes, appended after the ones above. */
  attributes?: readonly StunAttribute[]
}

/** A Binding transaction's result: the transaction data plus the decoded response. */
export type StunBindingResult = StunTransactionResult & BindingResponse

function optionalAddress (msg: DecodedStunMessage, type: number, legacyType: number, name: string): StunAddress | undefined {
  const value = getAttribute(msg, type) ?? getAttribute(msg, legacyType)
  return value === undefined ? undefined : decodeAddress(value, name)
}

/** Reads a Binding success response. Throws ERR_STUN_INVALID when it carries no usable mapped address. */
export function parseBindingResponse (msg: DecodedStunMessage): BindingResponse {
  if (msg.method !== StunMethod.Binding || msg.class !== 'success') {
    throw new ToolkitError(ErrorCode.StunInvalid, `not a Binding success response (method ${msg.method}, class ${msg.class})`)
  }
  const xorValue = getAttribute(msg, AttributeType.XorMappedAddress)
  const plainValue = getAttribute(msg, AttributeType.MappedAddress)
  const xorMapped = xorValue === undefined ? undefined : decodeXorAddress(xorValue, msg.transactionId)
  const plainMapped = plainValue === undefined ? undefined : decodeAddress(plainValue, 'MAPPED-ADDRESS')
  const mapped = xorMapped ?? plainMapped
  if (mapped === undefined) throw new ToolkitError(ErrorCode.StunInvalid, 'Binding response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS')
  const softwareValue = getAttribute(msg, AttributeType.Software)
  return {
    mapped,
    algSuspected: xorMapped !== undefined && plainMapped !== undefined && !sameTransportAddress(xorMapped, plainMapped),
    responseOrigin: optionalAddress(msg, AttributeType.ResponseOrigin, AttributeType.SourceAddress, 'RESPONSE-ORIGIN'),
    otherAddress: optionalAddress(msg, AttributeType.OtherAddress, AttributeType.ChangedAddress, 'OTHER-ADDRESS'),
    software: softwareValue === undefined ? undefined : decodeText(softwareValue, MAX_SOFTWARE_BYTES, 'SOFTWARE')
  }
}

/** Builds the RFC 5780 request attributes of a Binding request. */
export function bindingRequestAttributes (options: Pick<StunBindingOptions, 'changeRequest' | 'responsePort' | 'paddingBytes' | 'attributes'>): StunAttribute[] {
  const attributes: StunAttribute[] = []
  if (options.changeRequest !== undefined) attributes.push({ type: AttributeType.ChangeRequest, value: encodeChangeRequest(options.changeRequest) })
  if (options.responsePort !== undefined) attributes.push({ type: AttributeType.ResponsePort, value: encodeResponsePort(options.responsePort) })
  if (options.paddingBytes !== undefined && options.paddingBytes > 0) {
    if (!Number.isInteger(options.paddingBytes) || options.paddingBytes > 1500) throw new ToolkitError(ErrorCode.InvalidConfig, 'paddingBytes must be an integer up to 1500')
    attributes.push({ type: AttributeType.Padding, value: Buffer.alloc(options.paddingBytes) })
  }
  return [...attributes, ...(options.attributes ?? [])]
}

/**
 * Runs one Binding transaction and decodes the response (see {@link stunTransaction} for
 * retransmission, deadline, abort and socket ownership).
 */
export async function stunBinding (options: StunBindingOptions): Promise<StunBindingResult> {
  const { changeRequest: _c, responsePort: _r, paddingBytes: _p, attributes: _a, ...transaction } = options
  const result = await stunTransaction({ ...transaction, method: StunMethod.Binding, attributes: bindingRequestAttributes(options) })
  return { ...result, ...parseBindingResponse(result.response) }
}
