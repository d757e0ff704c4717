/**
 * A test-only STUN server with behaviour switches: drop the first N requests, stay silent,
 * corrupt FINGERPRINTs, answer with an error, hide OTHER-ADDRESS, and simulate a NAT in front of
 * the client (a fake reflexive address per mapping class, and a filter per filtering class)
 * so the RFC 5780 classification can be exercised on loopback without namespaces.
 *
 * The simulated "public" IP is 127.0.0.4 (loopback, nothing listens there in these tests).
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import {
  AttributeType, decodeChangeRequest, decodeMessage, encodeAddress, encodeErrorCode, encodeMessage,
  encodeUnknownAttributes, encodeXorAddress, getAttribute, looksLikeStun, type DecodedStunMessage, type StunAttribute,
  type TransportAddress
} from '../../nat/stun/index.ts'
import { closeUdpSocket, openUdpSocket } from '../../nat/stun/udp.ts'

/** A simulated NAT class. */
export type SimulatedBehavior = 'endpoint_independent' | 'address_dependent' | 'address_and_port_dependent'

/** Options for {@link startFakeStunServer}. */
export interface FakeStunServerOptions {
  /** Primary IP (port is picked). */
  primary: string
  /** Alternate IP: four sockets when given. */
  alternate?: string
  /** Drop the first N requests. */
  dropFirst?: number
  /** Never answer. */
  silent?: boolean
  /** Flip one FINGERPRINT byte in the first N answers. */
  corruptFirst?: number
  /** Answer every request with this error code. */
  errorCode?: number
  /** Leave OTHER-ADDRESS out and answer CHANGE-REQUEST with 420. */
  noOtherAddress?: boolean
  /** Simulated mapping: report a fake reflexive address (127.0.0.4) that depends on the destination like this. */
  mapping?: SimulatedBehavior
  /** Simulated filtering: drop answers the client has not "opened" a hole for. */
  filtering?: SimulatedBehavior
  /** Scope of the simulated filter state: per client ip:port ('mapping', like conntrack) or per client IP ('host', like the lab's seen-address set). */
  filterScope?: 'mapping' | 'host'
  /** Called for every request received (after parsing), before any answer. */
  onRequest?: (request: DecodedStunMessage, from: TransportAddress, to: TransportAddress) => void
}

/** A running fake server. */
export interface FakeStunServer {
  /** (A1, P1). */
  primary: TransportAddress
  /** (A2, P2), when an alternate IP was given. */
  alternate: TransportAddress | undefined
  /** Every request received, in order, with its arrival time (performance.now()). */
  requests: Array<{ transactionId: Buffer, from: TransportAddress, to: TransportAddress, at: number }>
  /** Closes all sockets. */
  close: () => Promise<void>
}

interface Slot { ip: 0 | 1, port: 0 | 1, socket: Socket, address: TransportAddress }

function wrapPort (n: number): number {
  return ((n - 1024) % 64512 + 64512) % 64512 + 1024
}

function lastOctet (ip: string): number {
  return Number(ip.split('.').at(-1) ?? 0)
}

function simulatedMapped (behavior: SimulatedBehavior, client: TransportAddress, dest: TransportAddress): TransportAddress {
  let port = client.port + 1
  if (behavior !== 'endpoint_independent') port += lastOctet(dest.address) * 7
  if (behavior === 'address_and_port_dependent') port += dest.port * 3
  return { address: '127.0.0.4', port: wrapPort(port) }
}

/** Starts a fake server on loopback with picked ports. */
export async function startFakeStunServer (options: FakeStunServerOptions): Promise<FakeStunServer> {
  const slots: Slot[] = []
  const requests: FakeStunServer['requests'] = []
  const opened = new Map<string, Set<string>>()
  let answers = 0
  const onError = (): void => {}
  const open = async (ip: 0 | 1, port: 0 | 1, address: string, portNumber: number): Promise<Slot> => {
    const socket = await openUdpSocket({ family: 4, address, port: portNumber, onError })
    const a = socket.address()
    const slot: Slot = { ip, port, socket, address: { address: a.address, port: a.port } }
    socket.on('message', (msg, rinfo) => { handle(slot, msg, rinfo) })
    slots.push(slot)
    return slot
  }
  const slotAt = (ip: number, port: number): Slot | undefined => slots.find(s => s.ip === ip && s.port === port)

  const filterKey = (client: TransportAddress): string => options.filterScope === 'host' ? client.address : `${client.address}:${client.port}`
  const allowed = (client: TransportAddress, from: TransportAddress): boolean => {
    const seen = opened.get(filterKey(client)) ?? new Set<string>()
    if (options.filtering === 'address_dependent') return seen.has(from.address)
    if (options.filtering === 'address_and_port_dependent') return seen.has(`${from.address}:${from.port}`)
    return true
  }

  const reply = (slot: Slot, message: Buffer, to: TransportAddress): void => {
    if (!allowed(to, slot.address)) return
    slot.socket.send(message, to.port, to.address)
  }

  const handle = (slot: Slot, msg: Buffer, rinfo: RemoteInfo): void => {
    if (!looksLikeStun(msg)) return
    let request: DecodedStunMessage
    try {
      request = decodeMessage(msg)
    } catch {
      return
    }
    if (request.class !== 'request') return
    const from = { address: rinfo.address, port: rinfo.port }
    const key = filterKey(from)
    const seen = opened.get(key) ?? new Set<string>()
    seen.add(slot.address.address)
    seen.add(`${slot.address.address}:${slot.address.port}`)
    opened.set(key, seen)
    requests.push({ transactionId: request.transactionId, from, to: slot.address, at: performance.now() })
    options.onRequest?.(request, from, slot.address)
    if (options.silent === true || requests.length <= (options.dropFirst ?? 0)) return
    const errorReply = (code: number, attrs: StunAttribute[] = []): void => {
      reply(slot, encodeMessage({ class: 'error', transactionId: request.transactionId, attributes: [{ type: AttributeType.ErrorCode, value: encodeErrorCode({ code, reason: 'fake' }) }, ...attrs] }), from)
    }
    if (options.errorCode !== undefined) {
      errorReply(options.errorCode)
      return
    }
    const changeValue = getAttribute(request, AttributeType.ChangeRequest)
    const change = changeValue === undefined ? { changeIp: false, changePort: false } : decodeChangeRequest(changeValue)
    const hasAlternate = options.alternate !== undefined && options.noOtherAddress !== true
    if ((change.changeIp || change.changePort) && !hasAlternate) {
      errorReply(420, [{ type: AttributeType.UnknownAttributes, value: encodeUnknownAttributes([AttributeType.ChangeRequest]) }])
      return
    }
    const out = slotAt(change.changeIp ? 1 - slot.ip : slot.ip, change.changePort ? 1 - slot.port : slot.port) ?? slot
    const other = slotAt(1 - slot.ip, 1 - slot.port)
    const mapped = options.mapping === undefined ? from : simulatedMapped(options.mapping, from, slot.address)
    const attributes: StunAttribute[] = [
      { type: AttributeType.XorMappedAddress, value: encodeXorAddress(mapped, request.transactionId) },
      { type: AttributeType.ResponseOrigin, value: encodeAddress(out.address) }
    ]
    if (hasAlternate && other !== undefined) attributes.push({ type: AttributeType.OtherAddress, value: encodeAddress(other.address) })
    const response = encodeMessage({ class: 'success', transactionId: request.transactionId, attributes })
    if (answers++ < (options.corruptFirst ?? 0)) response[response.length - 1] = (response.at(-1) ?? 0) ^ 0xff
    reply(out, response, from)
  }

  // A port picked on the primary IP may be taken on the alternate IP: retry a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      const a1p1 = await open(0, 0, options.primary, 0)
      if (options.alternate !== undefined) {
        await open(1, 0, options.alternate, a1p1.address.port)
        const a1p2 = await open(0, 1, options.primary, 0)
        await open(1, 1, options.alternate, a1p2.address.port)
      }
      break
    } catch (err) {
      await Promise.all(slots.splice(0).map(async s => { await closeUdpSocket(s.socket) }))
      if (attempt >= 5) throw err
    }
  }
  return {
    primary: (slotAt(0, 0) as Slot).address,
    alternate: slotAt(1, 1)?.address,
    requests,
    close: async () => { await Promise.all(slots.map(async s => { await closeUdpSocket(s.socket) })) }
  }
}
