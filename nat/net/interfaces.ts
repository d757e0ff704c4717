/**
 * Local interface addresses with the kernel's IPv6 address flags, and the few routing facts
 * the probe needs (default IPv4 gateway, source address toward a host).
 *
 * On Linux the IPv6 flags come from `/proc/net/if_inet6`, whose fifth column carries the
 * kernel's `IFA_F_*` bits (temporary, deprecated, permanent, …); the upstream Rust SDK ignored
 * that column. Every source is injectable so tests never depend on the host's network.
 */
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import { raceSignal } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { IpFamily } from '../../src/host-port.ts'
import { type AddressRange, tryParseIp } from './addr.ts'

/** Kernel IPv6 address flags (Linux `IFA_F_*`). */
export interface Ipv6AddressFlags {
  /** Privacy (RFC 8981) temporary address. */
  temporary: boolean
  /** Preferred lifetime expired: do not use for new connections. */
  deprecated: boolean
  /** Statically configured (not from SLAAC/DHCPv6). */
  permanent: boolean
  /** Duplicate address detection still running. */
  tentative: boolean
  /** Duplicate address detection failed. */
  dadFailed: boolean
  /** Stable-privacy (RFC 7217) interface identifier. */
  stablePrivacy: boolean
  /** Raw flag bits as printed by the kernel. */
  raw: number
}

/** One address on a local interface. */
export interface LocalAddress {
  /** Interface name, e.g. `eth0`. */
  interface: string
  /** Canonical address text. */
  address: string
  /** IP version. */
  family: IpFamily
  /** Prefix length (CIDR). */
  prefixLength: number
  /** Range classification (see nat/addr.ts). */
  range: AddressRange
  /** Loopback or otherwise internal interface. */
  internal: boolean
  /** IPv6 only: kernel flags, when `/proc/net/if_inet6` was readable. */
  flags?: Ipv6AddressFlags
  /** IPv6 only: the interface identifier is EUI-64 (derived from a MAC: `ff:fe` in bytes 11-12). */
  eui64?: boolean
}

/** Injectable sources for {@link listLocalAddresses} (tests pass fixed data). */
export interface InterfaceSources {
  /** Replaces `os.networkInterfaces()`. */
  networkInterfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>
  /** Returns the text of `/proc/net/if_inet6`, or undefined when unavailable. */
  readIfInet6?: () => string | undefined
}

const IFA_F_TEMPORARY = 0x01
const IFA_F_DADFAILED = 0x08
const IFA_F_DEPRECATED = 0x20
const IFA_F_TENTATIVE = 0x40
const IFA_F_PERMANENT = 0x80
const IFA_F_STABLE_PRIVACY = 0x800

/** Decodes the kernel's IPv6 address flag bits. */
export function decodeIpv6Flags (raw: number): Ipv6AddressFlags {
  return {
    temporary: (raw & IFA_F_TEMPORARY) !== 0,
    deprecated: (raw & IFA_F_DEPRECATED) !== 0,
    permanent: (raw & IFA_F_PERMANENT) !== 0,
    tentative: (raw & IFA_F_TENTATIVE) !== 0,
    dadFailed: (raw & IFA_F_DADFAILED) !== 0,
    stablePrivacy: (raw & IFA_F_STABLE_PRIVACY) !== 0,
    raw
  }
}

/** One row of `/proc/net/if_inet6`. */
export interface IfInet6Entry {
  /** Canonical IPv6 address. */
  address: string
  /** Interface name. */
  interface: string
  /** Prefix length. */
  prefixLength: number
  /** Decoded flags. */
  flags: Ipv6AddressFlags
}

/**
 * Parses `/proc/net/if_inet6`: `<32 hex addr> <ifindex> <prefixlen> <scope> <flags> <ifname>`,
 * all numbers in hex. Malformed lines are skipped.
 */
export function parseIfInet6 (text: string): IfInet6Entry[] {
  const out: IfInet6Entry[] = []
  for (const line of text.split('\n').slice(0, 4096)) {
    const cols = line.trim().split(/\s+/)
    if (cols.length !== 6) continue
    const [hex, , plen, , flags, ifname] = cols as [string, string, string, string, string, string]
    if (!/^[0-9a-fA-F]{32}$/.test(hex) || !/^[0-9a-fA-F]{1,8}$/.test(flags) || !/^[0-9a-fA-F]{1,2}$/.test(plen)) continue
    const groups = hex.match(/.{4}/g) ?? []
    const ip = tryParseIp(groups.join(':'))
    if (ip === undefined || ip.family !== 6) continue
    out.push({ address: ip.address, interface: ifname, prefixLength: parseInt(plen, 16), flags: decodeIpv6Flags(parseInt(flags, 16)) })
  }
  return out
}

/** True when an IPv6 address's interface identifier is EUI-64 (MAC-derived: bytes 11-12 are `ff fe`). */
export function isEui64 (address: string): boolean {
  const ip = tryParseIp(address)
  if (ip?.family !== 6) return false
  const parts = expandV6(ip.address)
  // Bytes 11 and 12 are the low byte of group 5 and the high byte of group 6.
  return ((parts[5] ?? 0) & 0xff) === 0xff && ((parts[6] ?? 0) >> 8) === 0xfe
}

function expandV6 (address: string): number[] {
  const [head = '', tail = ''] = address.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const fill = address.includes('::') ? new Array<string>(8 - h.length - t.length).fill('0') : []
  return [...h, ...fill, ...t].map(g => parseInt(g, 16))
}

function defaultReadIfInet6 (): string | undefined {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Lists local IPv4 and IPv6 addresses with ranges, and for IPv6 the kernel flags and the
 * EUI-64 marker. Zone ids are dropped from the address text.
 */
export function listLocalAddresses (sources: InterfaceSources = {}): LocalAddress[] {
  const ifs = (sources.networkInterfaces ?? networkInterfaces)()
  const inet6 = (sources.readIfInet6 ?? defaultReadIfInet6)()
  const flagsByKey = new Map<string, Ipv6AddressFlags>()
  if (inet6 !== undefined) {
    for (const e of parseIfInet6(inet6)) flagsByKey.set(`${e.interface}/${e.address}`, e.flags)
  }
  const out: LocalAddress[] = []
  for (const [name, infos] of Object.entries(ifs)) {
    for (const info of infos ?? []) {
      const ip = tryParseIp(info.address)
      if (ip === undefined) continue
      const prefix = Number((info.cidr ?? '').split('/')[1] ?? NaN)
      const entry: LocalAddress = {
        interface: name,
        address: ip.address,
        family: ip.family,
        prefixLength: Number.isInteger(prefix) ? prefix : (ip.family === 4 ? 32 : 128),
        range: ip.range,
        internal: info.internal
      }
      if (ip.family === 6) {
        const flags = flagsByKey.get(`${name}/${ip.address}`)
        if (flags !== undefined) entry.flags = flags
        entry.eui64 = isEui64(ip.address)
      }
      out.push(entry)
    }
  }
  return out
}

/** Public addresses found directly on local interfaces. */
export interface PublicOnInterface {
  /** Public (global unicast) IPv4 addresses. */
  ipv4: string[]
  /** Global unicast IPv6 addresses that are usable: not deprecated, not tentative, DAD not failed. */
  ipv6: string[]
}

/** Picks the public IPv4 and usable global IPv6 addresses from a list. */
export function publicOnInterface (addresses: LocalAddress[]): PublicOnInterface {
  const ipv4 = addresses.filter(a => a.family === 4 && a.range === 'global').map(a => a.address)
  const ipv6 = addresses
    .filter(a => a.family === 6 && a.range === 'global' && a.flags?.deprecated !== true && a.flags?.tentative !== true && a.flags?.dadFailed !== true)
    .map(a => a.address)
  return { ipv4: [...new Set(ipv4)], ipv6: [...new Set(ipv6)] }
}

/**
 * Orders usable global IPv6 addresses for serving: stable ones first (permanent,
 * stable-privacy or EUI-64), then other non-temporary ones, temporary (privacy) addresses last.
 * Input order breaks ties.
 */
export function rankServingIpv6 (addresses: LocalAddress[]): LocalAddress[] {
  const usable = addresses.filter(a => a.family === 6 && a.range === 'global' && a.flags?.deprecated !== true && a.flags?.tentative !== true && a.flags?.dadFailed !== true)
  const score = (a: LocalAddress): number => {
    if (a.flags?.temporary === true) return 2
    if (a.flags?.permanent === true || a.flags?.stablePrivacy === true || a.eui64 === true) return 0
    return 1
  }
  return usable.map((a, i) => ({ a, i })).sort((x, y) => score(x.a) - score(y.a) || x.i - y.i).map(x => x.a)
}

/**
 * Parses `/proc/net/route` and returns the IPv4 default gateway (lowest metric), if any.
 * Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask …, addresses in
 * little-endian hex.
 */
export function parseDefaultGatewayV4 (text: string): { address: string, interface: string } | undefined {
  let best: { address: string, interface: string, metric: number } | undefined
  for (const line of text.split('\n').slice(1, 4096)) {
    const cols = line.trim().split(/\s+/)
    if (cols.length < 8) continue
    const [iface = '', dest = '', gw = '', flags = '', , , metric = '', mask = ''] = cols
    if (dest !== '00000000' || mask !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(gw)) continue
    if ((parseInt(flags, 16) & 0x2) === 0) continue // RTF_GATEWAY
    const n = parseInt(gw, 16)
    const address = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.')
    const m = parseInt(metric, 10)
    if (best === undefined || m < best.metric) best = { address, interface: iface, metric: m }
  }
  return best === undefined ? undefined : { address: best.address, interface: best.interface }
}

/** Reads the host's IPv4 default gateway from `/proc/net/route` (Linux); undefined elsewhere. */
export function defaultGatewayV4 (readRoute: () => string | undefined = () => {
  try { return readFileSync('/proc/net/route', 'utf8') } catch { return undefined }
}): { address: string, interface: string } | undefined {
  const text = readRoute()
  return text === undefined ? undefined : parseDefaultGatewayV4(text)
}

/**
 * The local source address the kernel would use to reach `host` (a UDP "connect": the
 * route is looked up, no packet is sent). `host` must be an IP literal.
 */
export async function sourceAddressToward (host: string, signal?: AbortSignal): Promise<string> {
  const ip = tryParseIp(host)
  if (ip === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `source address lookup needs an IP literal, got "${host}"`)
  const socket = createSocket(ip.family === 6 ? 'udp6' : 'udp4')
  try {
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(9, ip.zone === undefined ? ip.address : `${ip.address}%${ip.zone}`, () => { resolve() })
    })
    // If the signal wins the race the socket is closed below; this only absorbs a late rejection.
    connected.catch(() => undefined)
    await raceSignal(connected, signal, 'source address lookup')
    const local = tryParseIp(socket.address().address)
    if (local === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `no source address toward ${ip.address}`)
    return local.address
  } finally {
    socket.close()
  }
}
