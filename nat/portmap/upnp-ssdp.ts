/**
 * SSDP M-SEARCH (UPnP discovery), bounded in time and count.
 *
 * IPv4 goes to 239.255.255.250:1900 (optionally from a chosen local address, which also picks
 * the multicast interface); IPv6 goes to the link-local group `ff02::c` on a named interface.
 * A unicast `target` replaces the group, which is how tests reach a loopback responder and
 * how an operator can aim at one router. Only `http://` LOCATIONs with an IP-literal host are
 * accepted (no DNS).
 */
import { createSocket, type Socket } from 'node:dgram'
import { deadline, throwIfAborted, abortError } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { formatHostPort, unbracketHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'

/** UPnP search targets for an Internet gateway, most capable first. */
export const IGD_SEARCH_TARGETS: readonly string[] = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1'
]

/** Search target for IPv6 firewall control (pinholes). */
export const FIREWALL_SEARCH_TARGET = 'urn:schemas-upnp-org:service:WANIPv6FirewallControl:1'

/** Options for {@link ssdpSearch}. */
export interface SsdpSearchOptions {
  /** ST values to search for. @default IGD_SEARCH_TARGETS */
  searchTargets?: readonly string[]
  /** Address family of the search. @default 4 */
  family?: 4 | 6
  /** IPv4: local address to send from (selects the multicast interface). */
  localAddress?: string
  /** IPv6: interface name for the link-local group (required for IPv6 multicast). */
  interface?: string
  /** Unicast target instead of the multicast group. */
  target?: { address: string, port: number }
  /** How long to collect answers. @default 1500 */
  timeoutMs?: number
  /** Stop after this many distinct answers. @default 16 */
  maxResponses?: number
  /** Cancels the search (the generator then throws ERR_ABORTED). */
  signal?: AbortSignal
}

/** One SSDP answer. */
export interface SsdpResponse {
  /** Device description URL. */
  location: string
  /** Search target answered. */
  st: string
  /** Unique service name. */
  usn?: string
  /** SERVER header. */
  server?: string
  /** Source address of the answer. */
  from: string
}

/** Largest SSDP datagram considered. */
const MAX_SSDP_BYTES = 4096

/** Parses an SSDP search response; undefined when it is not a usable `200 OK` with a LOCATION. */
export function parseSsdpResponse (msg: Buffer, from: string): SsdpResponse | undefined {
  if (msg.length > MAX_SSDP_BYTES) return undefined
  const lines = msg.toString('latin1').split('\r\n')
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return undefined
  const headers = new Map<string, string>()
  for (const line of lines.slice(1, 64)) {
    const c = line.indexOf(':')
    if (c <= 0) continue
    headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim())
  }
  const location = headers.get('location')
  const st = headers.get('st')
  if (location === undefined || st === undefined) return undefined
  let url: URL
  try {
    url = new URL(location)
  } catch {
    return undefined
  }
  const host = unbracketHost(url.hostname)
  if (url.protocol !== 'http:' || tryParseIp(host) === undefined) return undefined
  const out: SsdpResponse = { location: url.href, st, from }
  const usn = headers.get('usn')
  const server = headers.get('server')
  if (usn !== undefined) out.usn = usn
  if (server !== undefined) out.server = server
  return out
}

function searchMessage (st: string, hostHeader: string): Buffer {
  return Buffer.from(`M-SEARCH * HTTP/1.1\r\nHOST: ${hostHeader}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`, 'latin1')
}

/**
 * Sends M-SEARCH for each target (twice, against loss) and yields distinct answers until
 * the timeout, `maxResponses`, or the consumer stops iterating. The socket is always closed.
 */
export async function * ssdpSearch (options: SsdpSearchOptions = {}): AsyncGenerator<SsdpResponse, void, undefined> {
  throwIfAborted(options.signal, 'SSDP search')
  const family = options.family ?? 4
  const timeoutMs = options.timeoutMs ?? 1500
  const max = options.maxResponses ?? 16
  const targets = options.searchTargets ?? IGD_SEARCH_TARGETS
  let address: string
  let port = 1900
  let hostHeader: string
  if (options.target !== undefined) {
    address = options.target.address
    port = options.target.port
    hostHeader = formatHostPort(address, port)
  } else if (family === 4) {
    address = '239.255.255.250'
    hostHeader = '239.255.255.250:1900'
  } else {
    if (options.interface === undefined) return
    address = `ff02::c%${options.interface}`
    hostHeader = '[ff02::c]:1900'
  }
  const socket: Socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' })
  const queue: SsdpResponse[] = []
  const seen = new Set<string>()
  let wake: (() => void) | undefined
  let socketError: Error | undefined
  socket.on('error', err => {
    socketError = err
    wake?.()
  })
  socket.on('message', (msg, rinfo) => {
    const r = parseSsdpResponse(msg, rinfo.address)
    if (r === undefined || seen.has(r.location) || seen.size >= max) return
    seen.add(r.location)
    queue.push(r)
    wake?.()
  })
  const dl = deadline(timeoutMs, options.signal)
  const onDeadline = (): void => { wake?.() }
  dl.signal.addEventListener('abort', onDeadline, { once: true })
  let resend: NodeJS.Timeout | undefined
  let yielded = 0
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('listening', resolve)
      socket.once('error', reject)
      socket.bind({ port: 0, ...(family === 4 && options.localAddress !== undefined ? { address: options.localAddress } : {}) })
    })
    if (options.target === undefined) {
      if (family === 4) {
        socket.setMulticastTTL(2)
        if (options.localAddress !== undefined) socket.setMulticastInterface(options.localAddress)
      } else if (options.interface !== undefined) {
        socket.setMulticastInterface(`::%${options.interface}`)
      }
    }
    const sendAll = (): void => {
      for (const st of targets) {
        socket.send(searchMessage(st, hostHeader), port, address, err => {
          if (err !== null && err !== undefined) {
            socketError = err
            wake?.()
          }
        })
      }
    }
    sendAll()
    resend = setTimeout(sendAll, Math.min(250, Math.floor(timeoutMs / 3)))
    while (yielded < max) {
      const next = queue.shift()
      if (next !== undefined) {
        yielded++
        yield next
        continue
      }
      if (dl.signal.aborted || socketError !== undefined) break
      await new Promise<void>(resolve => { wake = resolve })
      wake = undefined
    }
    if (options.signal?.aborted === true) throw abortError(options.signal, 'SSDP search')
    if (socketError !== undefined && yielded === 0) {
      throw new ToolkitError(ErrorCode.PortMapUnavailable, `SSDP search to ${hostHeader} failed: ${socketError.message}`, { cause: socketError })
    }
  } finally {
    clearTimeout(resend)
    dl.signal.removeEventListener('abort', onDeadline)
    dl.clear()
    socket.close()
  }
}
