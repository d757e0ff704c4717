/**
 * NAT-PMP client (RFC 6886): external address, map, renew and delete, as a {@link Gateway}.
 *
 * Each request uses its own connected UDP socket (so only the gateway's answers are read),
 * retransmits on the RFC schedule (250 ms, doubling) until its deadline, and is closed when
 * the request ends. Lifetimes are seconds on the wire and in this API.
 */
import { createSocket } from 'node:dgram'
import { abortError, deadline } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { tryParseIp } from '../net/addr.ts'
import type { Gateway, GatewayCallOptions, GatewayInfo, PortMappingGrant, PortMappingKey, PortMappingRequest } from './types.ts'

/** The NAT-PMP server port. */
export const NAT_PMP_PORT = 5351
/** Default deadline of one NAT-PMP request. */
const NAT_PMP_TIMEOUT_MS = 2000
/** RFC 6886 §3.1: first retransmission after 250 ms, doubling. */
const INITIAL_RTO_MS = 250
/** Lifetime used when a caller asks for 0 (which NAT-PMP reserves for deletion): the RFC's recommended 7200 s. */
const DEFAULT_LIFETIME_S = 7200

const RESULT_TEXT: Record<number, string> = {
  1: 'unsupported version',
  2: 'not authorized or refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode'
}

/** Options for {@link createNatPmpGateway}. */
export interface NatPmpGatewayOptions {
  /** Gateway IPv4 address (usually the default gateway). */
  address: string
  /** Server port. @default 5351 */
  port?: number
  /** Deadline per request. @default NAT_PMP_TIMEOUT_MS */
  timeoutMs?: number
}

/** Sends one request and returns the gateway's answer for `op` (result code already checked). */
async function natPmpRequest (target: { address: string, port: number }, payload: Buffer, op: number, timeoutMs: number, localAddress: string | undefined, signal: AbortSignal | undefined): Promise<Buffer> {
  const dl = deadline(timeoutMs, signal, ErrorCode.PortMapUnavailable, `NAT-PMP gateway ${target.address} did not answer within ${timeoutMs} ms`)
  const socket = createSocket('udp4')
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => { reject(abortError(dl.signal, 'NAT-PMP request')) }
      if (dl.signal.aborted) {
        onAbort()
        return
      }
      dl.signal.addEventListener('abort', onAbort, { once: true })
      socket.on('error', err => { reject(new ToolkitError(ErrorCode.PortMapUnavailable, `NAT-PMP to ${target.address} failed: ${err.message}`, { cause: err })) })
      socket.on('message', msg => {
        if (msg.length < 8 || msg.readUInt8(0) !== 0 || msg.readUInt8(1) !== 128 + op) return
        const result = msg.readUInt16BE(2)
        if (result !== 0) {
          reject(new ToolkitError(ErrorCode.PortMapFailed, `NAT-PMP gateway ${target.address} refused: ${RESULT_TEXT[result] ?? `result ${result}`}`, { details: { natPmpResultCode: result } }))
          return
        }
        resolve(msg)
      })
      let rto = INITIAL_RTO_MS
      const send = (): void => {
        socket.send(payload, err => { if (err !== null && err !== undefined) socket.emit('error', err) })
        timer = setTimeout(send, rto)
        rto *= 2
      }
      socket.bind({ port: 0, ...(localAddress === undefined ? {} : { address: localAddress }) }, () => {
        socket.connect(target.port, target.address, send)
      })
    })
  } finally {
    clearTimeout(timer)
    dl.clear()
    socket.close()
  }
}

/** Creates a NAT-PMP {@link Gateway} for an IPv4 gateway address. No packet is sent until a method is called. */
export function createNatPmpGateway (options: NatPmpGatewayOptions): Gateway {
  const ip = tryParseIp(options.address)
  if (ip?.family !== 4) throw new ToolkitError(ErrorCode.InvalidAddress, `NAT-PMP needs an IPv4 gateway address, got "${options.address}"`)
  const target = { address: ip.address, port: options.port ?? NAT_PMP_PORT }
  const timeoutMs = options.timeoutMs ?? NAT_PMP_TIMEOUT_MS
  const info: GatewayInfo = { protocol: 'nat-pmp', address: ip.address }

  const map = async (protocol: 'tcp' | 'udp', internalPort: number, externalPort: number, lifetime: number, localAddress: string | undefined, o?: GatewayCallOptions): Promise<PortMappingGrant> => {
    const op = protocol === 'udp' ? 1 : 2
    const req = Buffer.alloc(12)
    req.writeUInt8(0, 0)
    req.writeUInt8(op, 1)
    req.writeUInt16BE(internalPort, 4)
    req.writeUInt16BE(externalPort, 6)
    req.writeUInt32BE(lifetime, 8)
    const res = await natPmpRequest(target, req, op, timeoutMs, localAddress, o?.signal)
    if (res.length < 16) throw new ToolkitError(ErrorCode.PortMapFailed, `NAT-PMP mapping answer too short (${res.length} bytes)`)
    return { externalPort: res.readUInt16BE(10), leaseSeconds: res.readUInt32BE(12) }
  }

  return {
    info,
    async externalIp (o) {
      const res = await natPmpRequest(target, Buffer.from([0, 0]), 0, timeoutMs, undefined, o?.signal)
      if (res.length < 12) throw new ToolkitError(ErrorCode.PortMapFailed, `NAT-PMP address answer too short (${res.length} bytes)`)
      return [res[8], res[9], res[10], res[11]].join('.')
    },
    async addPortMapping (r: PortMappingRequest, o) {
      const lifetime = r.leaseSeconds > 0 ? Math.min(Math.floor(r.leaseSeconds), 0xffffffff) : DEFAULT_LIFETIME_S
      const grant = await map(r.protocol, r.internalPort, r.externalPort, lifetime, r.internalHost, o)
      if (grant.externalPort === 0) throw new ToolkitError(ErrorCode.PortMapFailed, 'NAT-PMP gateway assigned no external port')
      return grant
    },
    async deletePortMapping (k: PortMappingKey, o) {
      await map(k.protocol, k.internalPort, 0, 0, k.internalHost, o)
    }
  }
}
