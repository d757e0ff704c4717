/**
 * One STUN request/response transaction over UDP with RFC 5389 §7.2.1 retransmission
 * (RTO doubling, Rc requests, a final wait of Rm·RTO), bounded by an overall deadline and an
 * AbortSignal. Every timer and listener is removed before the promise settles.
 *
 * Socket ownership: pass `socket` to borrow a bound socket (the caller keeps it open, closes it,
 * and must keep its own 'error' listener; this module only adds and removes a 'message' and a
 * 'close' listener). Without `socket` the transaction opens its own socket and always closes it
 * before returning, on success, error, timeout and abort alike.
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import { abortError, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { ipFamily } from '../../src/host-port.ts'
import { AttributeType, decodeErrorCode, decodeUnknownAttributes, encodeText, formatAddress, MAX_SOFTWARE_BYTES, sameTransportAddress, type StunAttribute, type TransportAddress } from './attributes.ts'
import { decodeMessage, encodeMessage, getAttribute, looksLikeStun, newTransactionId, StunMethod, TRANSACTION_ID_BYTES, type DecodedStunMessage, type EncodeOptions } from './codec.ts'
import { closeUdpSocket, openUdpSocket } from './udp.ts'

/** Initial retransmission timeout (RFC 5389 §7.2.1). */
export const DEFAULT_RTO_MS = 500
/** Number of requests sent before giving up, Rc (RFC 5389 §7.2.1). */
export const DEFAULT_MAX_REQUESTS = 7
/** Multiple of RTO waited after the last request, Rm (RFC 5389 §7.2.1). */
export const DEFAULT_LAST_WAIT_MULTIPLIER = 16

/** Options for {@link stunTransaction}. */
export interface StunTransactionOptions {
  /** Where to send the request: an IP literal and port. */
  server: TransportAddress
  /** A bound socket to borrow (see the module notes on ownership). @default an owned socket */
  socket?: Socket
  /** Local IP of the owned socket (ignored with `socket`). @default the family's wildcard */
  localAddress?: string
  /** Local port of the owned socket (ignored with `socket`). @default 0 */
  localPort?: number
  /** STUN method. @default StunMethod.Binding */
  method?: number
  /** Request attributes (CHANGE-REQUEST, RESPONSE-PORT, PADDING, USERNAME, ...). */
  attributes?: readonly StunAttribute[]
  /** SOFTWARE attribute to send. @default none */
  software?: string
  /** Short-term integrity for the request. @default none */
  integrity?: EncodeOptions['integrity']
  /** Transaction id. @default 12 random bytes */
  transactionId?: Buffer
  /** Initial RTO in ms. @default 500 */
  rtoMs?: number
  /** Rc: requests sent in total. @default 7 */
  maxRequests?: number
  /** Rm: the last request waits Rm·RTO. @default 16 */
  lastWaitMultiplier?: number
  /** Overall deadline in ms; the transaction ends with ERR_STUN_TIMEOUT when it passes. @default none: the Rc/Rm schedule alone ends it (39.5 s for RTO 500 ms) */
  timeoutMs?: number
  /** Cancels the transaction with ERR_ABORTED. */
  signal?: AbortSignal
  /**
   * Which sources may answer: 'server' accepts only datagrams from `server` (RFC 5389 §7.3.1
   * matching for an ordinary request); 'any' accepts any source (CHANGE-REQUEST tests, where the
   * answer comes from the alternate address, and the caller checks the origin). @default 'server'
   */
  acceptFrom?: 'server' | 'any'
}

/** A successful transaction. */
export interface StunTransactionResult {
  /** The success response. */
  response: DecodedStunMessage
  /** Where the response came from. */
  source: TransportAddress
  /** The local address of the socket used. */
  local: TransportAddress
  /** Milliseconds from the first request to the response. */
  rttMs: number
  /** Number of requests sent (1 means no retransmission). */
  requestsSent: number
}

function positive (name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isFinite(v) || v <= 0) throw new ToolkitError(ErrorCode.InvalidConfig, `${name} must be a positive number, got ${v}`)
  return v
}

/** Total time of the Rc/Rm schedule: RTO·(1 + 2 + … + 2^(Rc-2)) + Rm·RTO. */
export function retransmissionScheduleMs (rtoMs: number, maxRequests: number, lastWaitMultiplier: number): number {
  return rtoMs * (2 ** (maxRequests - 1) - 1) + rtoMs * lastWaitMultiplier
}

function errorResponse (msg: DecodedStunMessage, server: TransportAddress): ToolkitError {
  const codeValue = getAttribute(msg, AttributeType.ErrorCode)
  let code: number | undefined
  let reason = ''
  let unknown: number[] | undefined
  try {
    if (codeValue !== undefined) ({ code, reason } = decodeErrorCode(codeValue))
    const unknownValue = getAttribute(msg, AttributeType.UnknownAttributes)
    if (unknownValue !== undefined) unknown = decodeUnknownAttributes(unknownValue)
  } catch {
    // a malformed ERROR-CODE still means an error response; code stays undefined
  }
  return new ToolkitError(ErrorCode.StunErrorResponse, `STUN server ${formatAddress(server)} answered with error ${code ?? '?'} ${reason}`.trim(), {
    details: { server: formatAddress(server), code, reason, ...(unknown === undefined ? {} : { unknownAttributes: unknown }) }
  })
}

/**
 * Sends one request and waits for the matching response (same transaction id, same method, a
 * success or error class, FINGERPRINT correct when present, accepted source). Retransmits per
 * RFC 5389 §7.2.1 until the schedule or `timeoutMs` ends.
 * Rejects with ERR_STUN_TIMEOUT (deadline), ERR_STUN_ERROR_RESPONSE (error class; `details.code`),
 * ERR_ABORTED (signal), ERR_CONNECTION_CLOSED (a borrowed socket closed), ERR_INVALID_ADDRESS or
 * ERR_INVALID_CONFIG (bad options).
 */
export async function stunTransaction (options: StunTransactionOptions): Promise<StunTransactionResult> {
  const family = ipFamily(options.server.address)
  if (family === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server must be an IP literal, got ${options.server.address}`)
  if (!Number.isInteger(options.server.port) || options.server.port < 1 || options.server.port > 0xffff) {
    throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server port out of range: ${options.server.port}`)
  }
  const rtoMs = positive('rtoMs', options.rtoMs, DEFAULT_RTO_MS)
  const maxRequests = Math.floor(positive('maxRequests', options.maxRequests, DEFAULT_MAX_REQUESTS))
  const lastWait = positive('lastWaitMultiplier', options.lastWaitMultiplier, DEFAULT_LAST_WAIT_MULTIPLIER)
  const timeoutMs = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : positive('timeoutMs', options.timeoutMs, 0)
  const transactionId = options.transactionId ?? newTransactionId()
  if (transactionId.length !== TRANSACTION_ID_BYTES) throw new ToolkitError(ErrorCode.InvalidConfig, 'transactionId must be 12 bytes')
  const attributes = [...(options.attributes ?? [])]
  if (options.software !== undefined) attributes.push({ type: AttributeType.Software, value: encodeText(options.software, MAX_SOFTWARE_BYTES, 'SOFTWARE') })
  const request = encodeMessage(
    { method: options.method ?? StunMethod.Binding, class: 'request', transactionId, attributes },
    options.integrity === undefined ? {} : { integrity: options.integrity }
  )
  throwIfAborted(options.signal, 'STUN transaction')

  if (options.socket !== undefined) {
    let boundFamily: 4 | 6
    try {
      boundFamily = options.socket.address().family === 'IPv6' ? 6 : 4
    } catch (err) {
      throw new ToolkitError(ErrorCode.InvalidConfig, 'the borrowed socket must be bound and open', { cause: err })
    }
    if (boundFamily !== family) throw new ToolkitError(ErrorCode.InvalidAddress, `socket is IPv${boundFamily} but the STUN server ${options.server.address} is IPv${family}`)
    return await run(options.socket, request, transactionId, options, { rtoMs, maxRequests, lastWait, timeoutMs })
  }
  let socketError: Error | undefined
  const socket = await openUdpSocket({
    family,
    ...(options.localAddress === undefined ? {} : { address: options.localAddress }),
    ...(options.localPort === undefined ? {} : { port: options.localPort }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onError: (err) => { socketError = err }
  })
  try {
    return await run(socket, request, transactionId, options, { rtoMs, maxRequests, lastWait, timeoutMs })
  } catch (err) {
    if (socketError !== undefined && err instanceof ToolkitError && err.code === ErrorCode.StunTimeout && err.cause === undefined) {
      throw new ToolkitError(err.code, err.message, { cause: socketError, ...(err.details === undefined ? {} : { details: err.details }) })
    }
    throw err
  } finally {
    await closeUdpSocket(socket)
  }
}

interface Schedule { rtoMs: number, maxRequests: number, lastWait: number, timeoutMs: number }

async function run (socket: Socket, request: Buffer, transactionId: Buffer, options: StunTransactionOptions, schedule: Schedule): Promise<StunTransactionResult> {
  const { server, signal } = options
  const method = options.method ?? StunMethod.Binding
  const acceptAny = options.acceptFrom === 'any'
  const local = socket.address()
  return await new Promise<StunTransactionResult>((resolve, reject) => {
    const start = performance.now()
    const deadlineAt = start + schedule.timeoutMs
    let sent = 0
    let lastSendError: Error | undefined
    let timer: NodeJS.Timeout | undefined

    const finish = (settle: () => void): void => {
      clearTimeout(timer)
      timer = undefined
      socket.off('message', onMessage)
      socket.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      settle()
    }
    const onAbort = (): void => { finish(() => { reject(abortError(signal, 'STUN transaction')) }) }
    const onClose = (): void => {
      finish(() => { reject(new ToolkitError(ErrorCode.ConnectionClosed, `socket closed during the STUN transaction with ${formatAddress(server)}`)) })
    }
    const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
      if (!looksLikeStun(msg) || !msg.subarray(8, 20).equals(transactionId)) return
      const source = { address: rinfo.address, port: rinfo.port }
      if (!acceptAny && !sameTransportAddress(source, server)) return
      let decoded: DecodedStunMessage
      try {
        decoded = decodeMessage(msg)
      } catch {
        return // malformed or bad FINGERPRINT: silently discarded (RFC 5389 §7.3)
      }
      if (decoded.method !== method || (decoded.class !== 'success' && decoded.class !== 'error')) return
      if (decoded.class === 'error') {
        finish(() => { reject(errorResponse(decoded, server)) })
        return
      }
      finish(() => {
        resolve({ response: decoded, source, local: { address: local.address, port: local.port }, rttMs: performance.now() - start, requestsSent: sent })
      })
    }
    const timeout = (): void => {
      finish(() => {
        reject(new ToolkitError(ErrorCode.StunTimeout, `no STUN answer from ${formatAddress(server)} after ${sent} request(s) within ${Math.round(performance.now() - start)} ms`, {
          ...(lastSendError === undefined ? {} : { cause: lastSendError }),
          details: { server: formatAddress(server), requestsSent: sent, ...(Number.isFinite(schedule.timeoutMs) ? { timeoutMs: schedule.timeoutMs } : {}) }
        }))
      })
    }
    const sendNext = (): void => {
      timer = undefined
      const now = performance.now()
      if (sent >= schedule.maxRequests || now >= deadlineAt) {
        timeout()
        return
      }
      sent++
      try {
        socket.send(request, server.port, server.address, (err) => { if (err != null) lastSendError = err })
      } catch (err) {
        finish(() => { reject(new ToolkitError(ErrorCode.ConnectionClosed, `cannot send on the STUN socket: ${(err as Error).message}`, { cause: err })) })
        return
      }
      const wait = sent >= schedule.maxRequests ? schedule.rtoMs * schedule.lastWait : schedule.rtoMs * 2 ** (sent - 1)
      // a wait cut short by the deadline ends the transaction when it fires, whatever the clock reads then
      timer = wait >= deadlineAt - now ? setTimeout(timeout, Math.max(0, deadlineAt - now)) : setTimeout(sendNext, wait)
    }

    if (signal?.aborted === true) {
      reject(abortError(signal, 'STUN transaction'))
      return
    }
    socket.on('message', onMessage)
    socket.once('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
    sendNext()
  })
}
