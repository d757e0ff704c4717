/**
 * A STUN Binding server over UDP (RFC 5389/8489) with RFC 5780 NAT behaviour discovery support.
 * With an alternate address it binds four sockets, (A1,P1) (A1,P2) (A2,P1) (A2,P2), answers
 * with OTHER-ADDRESS and honours CHANGE-REQUEST by sending from the matching socket. Non-STUN
 * datagrams, indications and responses are ignored; work per datagram is bounded (size limit,
 * attribute limit, per-source token bucket).
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { ipFamily } from '../../src/host-port.ts'
import { sameIp } from '../net/addr.ts'
import {
  AttributeType, decodeChangeRequest, decodeResponsePort, encodeAddress, encodeErrorCode, encodeText,
  encodeUnknownAttributes, encodeXorAddress, formatAddress, isComprehensionRequired, MAX_SOFTWARE_BYTES,
  type StunAttribute, type TransportAddress
} from './attributes.ts'
import { decodeMessage, encodeMessage, getAttribute, looksLikeStun, StunMethod, type DecodedStunMessage } from './codec.ts'
import { createStunRateLimiter, type StunRateLimit } from './rate-limit.ts'
import { closeUdpSocket, openUdpSocket } from './udp.ts'

export type { StunRateLimit } from './rate-limit.ts'

/** Default SOFTWARE attribute of the server's answers. */
export const DEFAULT_STUN_SOFTWARE = 'iicp-relay-toolkit stun'
/** Largest datagram the server looks at; larger ones are dropped unread. */
export const MAX_STUN_DATAGRAM_BYTES = 4096
/** Largest PADDING the server echoes (RFC 5780 §7.6, one MTU). */
export const MAX_PADDING_BYTES = 1500

/** Options for {@link createStunServer}. */
export interface StunServerOptions {
  /** Primary IP literal and port (port 0: pick a free one). */
  primary: TransportAddress
  /** Alternate IP literal and port for RFC 5780 (same family, different IP; port 0: pick a free one). @default none (plain RFC 5389 server) */
  alternate?: TransportAddress
  /** SOFTWARE attribute; '' sends none. @default DEFAULT_STUN_SOFTWARE */
  software?: string
  /** Logger. @default silentLogger() */
  logger?: Logger
  /** Per-source-IP token bucket; false disables it. @default { perSecond: 100, burst: 200, maxSources: 10000 } */
  rateLimit?: StunRateLimit | false
  /** How many times listen() retries when a picked port pair is taken on the other IP. @default 10 */
  bindAttempts?: number
}

/** The addresses a listening server answers on. */
export interface StunServerInfo {
  /** Primary (A1, P1). */
  primary: TransportAddress
  /** Alternate (A2, P2), when RFC 5780 capable. */
  alternate: TransportAddress | undefined
  /** True when the server has an alternate address and honours CHANGE-REQUEST. */
  rfc5780: boolean
  /** Every bound socket's address. */
  sockets: TransportAddress[]
}

/** Counters since listen(). */
export interface StunServerStats {
  /** Binding success responses sent. */
  answered: number
  /** Error responses sent. */
  errors: number
  /** Datagrams dropped: not STUN, malformed, too large, not a request. */
  ignored: number
  /** Datagrams dropped by the rate limit. */
  rateLimited: number
}

/** A STUN server: listen(), close() (idempotent), and `await using` support. */
export interface StunServer {
  /** Binds the sockets and starts answering. Rejects when called twice or after close(). */
  listen: () => Promise<StunServerInfo>
  /** Closes every socket; idempotent. */
  close: () => Promise<void>
  /** The bound addresses, once listening. */
  readonly info: StunServerInfo | undefined
  /** A snapshot of the counters. */
  stats: () => StunServerStats
  /** Same as close(). */
  [Symbol.asyncDispose]: () => Promise<void>
}

/** Comprehension-required attributes the server understands in a request (others get 420). */
const UNDERSTOOD = new Set<number>([
  AttributeType.ChangeRequest, AttributeType.ResponsePort, AttributeType.Padding, AttributeType.Username,
  AttributeType.MessageIntegrity, AttributeType.MessageIntegritySha256, AttributeType.Realm, AttributeType.Nonce
])

interface Slot { ip: 0 | 1, port: 0 | 1, socket: Socket, address: TransportAddress }

function validate (options: StunServerOptions): 4 | 6 {
  const family = ipFamily(options.primary.address)
  if (family === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `primary must be an IP literal, got ${options.primary.address}`)
  for (const addr of [options.primary, options.alternate]) {
    if (addr !== undefined && (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 0xffff)) {
      throw new ToolkitError(ErrorCode.InvalidConfig, `port out of range: ${addr.port}`)
    }
  }
  const alt = options.alternate
  if (alt !== undefined) {
    if (ipFamily(alt.address) !== family) throw new ToolkitError(ErrorCode.InvalidAddress, `alternate ${alt.address} must be an IP literal of the primary's family`)
    if (sameIp(alt.address, options.primary.address)) throw new ToolkitError(ErrorCode.InvalidConfig, 'alternate IP must differ from the primary IP')
    if (alt.port !== 0 && alt.port === options.primary.port) throw new ToolkitError(ErrorCode.InvalidConfig, 'alternate port must differ from the primary port')
  }
  return family
}

function isAddressInUse (err: unknown): boolean {
  return err instanceof Error && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE'
}

/** Creates a STUN server; nothing is bound until listen(). */
export function createStunServer (options: StunServerOptions): StunServer {
  const family = validate(options)
  const logger = options.logger ?? silentLogger()
  const software = options.software ?? DEFAULT_STUN_SOFTWARE
  const softwareAttr: StunAttribute[] = software === '' ? [] : [{ type: AttributeType.Software, value: encodeText(software, MAX_SOFTWARE_BYTES, 'SOFTWARE') }]
  const limiter = options.rateLimit === false ? undefined : createStunRateLimiter(options.rateLimit ?? {})
  const attempts = options.bindAttempts ?? 10
  const counters: StunServerStats = { answered: 0, errors: 0, ignored: 0, rateLimited: 0 }
  let slots: Slot[] = []
  let info: StunServerInfo | undefined
  let listening: Promise<StunServerInfo> | undefined
  let closing: Promise<void> | undefined

  const onSocketError = (err: Error): void => { logger.warn({ err: errorMessage(err) }, 'stun socket error') }

  const slotAt = (ip: 0 | 1, port: 0 | 1): Slot | undefined => slots.find(s => s.ip === ip && s.port === port)

  const send = (slot: Slot, message: Buffer, to: TransportAddress): void => {
    slot.socket.send(message, to.port, to.address, (err) => {
      if (err != null) logger.debug({ err: errorMessage(err), to: formatAddress(to) }, 'stun send failed')
    })
  }

  const sendError = (slot: Slot, request: DecodedStunMessage, to: TransportAddress, code: number, reason: string, unknown?: number[]): void => {
    const attributes: StunAttribute[] = [{ type: AttributeType.ErrorCode, value: encodeErrorCode({ code, reason }) }]
    if (unknown !== undefined) attributes.push({ type: AttributeType.UnknownAttributes, value: encodeUnknownAttributes(unknown) })
    send(slot, encodeMessage({ method: request.method, class: 'error', transactionId: request.transactionId, attributes: [...attributes, ...softwareAttr] }), to)
    counters.errors++
    logger.debug({ code, reason, from: formatAddress(to) }, 'stun error response')
  }

  const answer = (slot: Slot, request: DecodedStunMessage, from: TransportAddress): void => {
    if (request.method !== StunMethod.Binding) {
      sendError(slot, request, from, 400, 'Bad Request: unsupported method')
      return
    }
    const unknown = [...new Set(request.attributes.map(a => a.type).filter(t => isComprehensionRequired(t) && !UNDERSTOOD.has(t)))]
    if (unknown.length > 0) {
      sendError(slot, request, from, 420, 'Unknown Attribute', unknown.slice(0, 16))
      return
    }
    let change = { changeIp: false, changePort: false }
    let responsePort: number | undefined
    try {
      const changeValue = getAttribute(request, AttributeType.ChangeRequest)
      if (changeValue !== undefined) change = decodeChangeRequest(changeValue)
      const portValue = getAttribute(request, AttributeType.ResponsePort)
      if (portValue !== undefined) responsePort = decodeResponsePort(portValue)
    } catch (err) {
      sendError(slot, request, from, 400, `Bad Request: ${errorMessage(err)}`)
      return
    }
    if (responsePort === 0) {
      sendError(slot, request, from, 400, 'Bad Request: RESPONSE-PORT 0')
      return
    }
    const out = slotAt(change.changeIp ? (1 - slot.ip) as 0 | 1 : slot.ip, change.changePort ? (1 - slot.port) as 0 | 1 : slot.port)
    if (out === undefined) {
      sendError(slot, request, from, 420, 'Unknown Attribute: no alternate address for CHANGE-REQUEST', [AttributeType.ChangeRequest])
      return
    }
    const other = slotAt((1 - slot.ip) as 0 | 1, (1 - slot.port) as 0 | 1)
    const attributes: StunAttribute[] = [
      { type: AttributeType.XorMappedAddress, value: encodeXorAddress(from, request.transactionId) },
      { type: AttributeType.MappedAddress, value: encodeAddress(from) },
      { type: AttributeType.ResponseOrigin, value: encodeAddress(out.address) }
    ]
    if (other !== undefined) attributes.push({ type: AttributeType.OtherAddress, value: encodeAddress(other.address) })
    const padding = getAttribute(request, AttributeType.Padding)
    if (padding !== undefined && padding.length > 0) attributes.push({ type: AttributeType.Padding, value: Buffer.alloc(Math.min(padding.length, MAX_PADDING_BYTES)) })
    attributes.push(...softwareAttr)
    send(out, encodeMessage({ method: StunMethod.Binding, class: 'success', transactionId: request.transactionId, attributes }), { address: from.address, port: responsePort ?? from.port })
    counters.answered++
  }

  const onDatagram = (slot: Slot, msg: Buffer, rinfo: RemoteInfo): void => {
    if (msg.length > MAX_STUN_DATAGRAM_BYTES || !looksLikeStun(msg)) {
      counters.ignored++
      return
    }
    if (limiter !== undefined && !limiter.take(rinfo.address)) {
      counters.rateLimited++
      return
    }
    let request: DecodedStunMessage
    try {
      request = decodeMessage(msg)
    } catch (err) {
      counters.ignored++
      logger.debug({ err: errorMessage(err), from: `${rinfo.address}:${rinfo.port}` }, 'malformed stun datagram dropped')
      return
    }
    if (request.class !== 'request') {
      counters.ignored++
      return
    }
    try {
      answer(slot, request, { address: rinfo.address, port: rinfo.port })
    } catch (err) {
      counters.ignored++
      logger.debug({ err: errorMessage(err) }, 'stun request not answered')
    }
  }

  const bindSlot = async (ip: 0 | 1, port: 0 | 1, address: string, portNumber: number): Promise<Slot> => {
    const socket = await openUdpSocket({ family, address, port: portNumber, onError: onSocketError })
    const bound = socket.address()
    const slot: Slot = { ip, port, socket, address: { address: bound.address, port: bound.port } }
    socket.on('message', (msg, rinfo) => { onDatagram(slot, msg, rinfo) })
    return slot
  }

  /** Errors of a bind on a port picked by an earlier bind: another attempt may pick a free pair. */
  const retryable = new WeakSet<object>()

  const bindAll = async (): Promise<Slot[]> => {
    const opened: Slot[] = []
    let onPickedPort = false
    try {
      const a1p1 = await bindSlot(0, 0, options.primary.address, options.primary.port)
      opened.push(a1p1)
      const alt = options.alternate
      if (alt === undefined) return opened
      onPickedPort = options.primary.port === 0
      opened.push(await bindSlot(1, 0, alt.address, a1p1.address.port))
      onPickedPort = false
      const a1p2 = await bindSlot(0, 1, options.primary.address, alt.port)
      opened.push(a1p2)
      onPickedPort = alt.port === 0
      opened.push(await bindSlot(1, 1, alt.address, a1p2.address.port))
      return opened
    } catch (err) {
      await Promise.all(opened.map(async s => { await closeUdpSocket(s.socket) }))
      if (onPickedPort && isAddressInUse(err) && err instanceof Error) retryable.add(err)
      throw err
    }
  }

  const listen = async (): Promise<StunServerInfo> => {
    if (closing !== undefined) throw new ToolkitError(ErrorCode.InvalidConfig, 'STUN server is closed')
    if (listening !== undefined) throw new ToolkitError(ErrorCode.InvalidConfig, 'STUN server is already listening')
    listening = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          slots = await bindAll()
          break
        } catch (err) {
          if (!(err instanceof Error && retryable.has(err)) || attempt >= attempts) throw err
          logger.debug({ attempt }, 'stun port picked on one IP is taken on the other, retrying')
        }
      }
      const primary = slotAt(0, 0)?.address ?? options.primary
      const alternate = slotAt(1, 1)?.address
      info = { primary, alternate, rfc5780: alternate !== undefined, sockets: slots.map(s => s.address) }
      logger.info({ primary: formatAddress(primary), alternate: alternate === undefined ? undefined : formatAddress(alternate) }, 'stun server listening')
      return info
    })()
    return await listening
  }

  const close = async (): Promise<void> => {
    closing ??= (async () => {
      await listening?.catch(() => undefined)
      const open = slots
      slots = []
      await Promise.all(open.map(async s => { await closeUdpSocket(s.socket) }))
    })()
    await closing
  }

  return {
    listen,
    close,
    get info () { return info },
    stats: () => ({ ...counters }),
    [Symbol.asyncDispose]: close
  }
}
