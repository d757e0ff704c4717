/**
 * Strict IP address parsing and range classification.
 *
 * Every address the NAT module touches goes through {@link parseIp}: `net.isIP` (and, for
 * IPv4, ipaddr.js's four-part-decimal check) runs first, because ipaddr.js alone accepts
 * loose forms such as `1.2.3` or `0x7f.1` (the `ip` package's CVE-2024-29415 class of bug).
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is unwrapped to IPv4.
 */
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'

export { formatHostPort } from '../../src/host-port.ts'

/** IP version. */
export type IpFamily = 4 | 6

/**
 * Range an address belongs to. `global` means public unicast: for IPv4 anything not in a
 * special-purpose block, for IPv6 2000::/3 minus the documentation, 6to4, Teredo,
 * benchmarking and ORCHID blocks (which get their own names).
 */
export type AddressRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'carrierGradeNat'
  | 'linkLocal'
  | 'uniqueLocal'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'nat64'
  | 'discard'
  | 'teredo'
  | '6to4'
  | 'orchid'
  | 'global'

/** A strictly parsed IP address. */
export interface ParsedIp {
  /** Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (no zone). */
  address: string
  /** IP version (after unwrapping IPv4-mapped IPv6). */
  family: IpFamily
  /** Range classification. */
  range: AddressRange
  /** IPv6 zone (scope) id, e.g. `eth0` for `fe80::1%eth0`. */
  zone?: string
  /** True when the input was an IPv4-mapped IPv6 address that was unwrapped. */
  mapped?: boolean
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number]

function cidrs (...list: string[]): Cidr[] {
  return list.map(c => ipaddr.parseCIDR(c))
}

// Order matters: the first matching name wins (specific blocks before 2000::/3).
const V4_RANGES: Record<string, Cidr[]> = {
  unspecified: cidrs('0.0.0.0/8'),
  broadcast: cidrs('255.255.255.255/32'),
  multicast: cidrs('224.0.0.0/4'),
  linkLocal: cidrs('169.254.0.0/16'),
  loopback: cidrs('127.0.0.0/8'),
  carrierGradeNat: cidrs('100.64.0.0/10'),
  private: cidrs('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'),
  documentation: cidrs('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'),
  benchmarking: cidrs('198.18.0.0/15'),
  reserved: cidrs('192.0.0.0/24', '192.88.99.0/24', '240.0.0.0/4')
}

const V6_RANGES: Record<string, Cidr[]> = {
  unspecified: cidrs('::/128'),
  loopback: cidrs('::1/128'),
  nat64: cidrs('64:ff9b::/96', '64:ff9b:1::/48'),
  discard: cidrs('100::/64'),
  teredo: cidrs('2001::/32'),
  benchmarking: cidrs('2001:2::/48'),
  orchid: cidrs('2001:10::/28', '2001:20::/28'),
  documentation: cidrs('2001:db8::/32', '3fff::/20'),
  '6to4': cidrs('2002::/16'),
  global: cidrs('2000::/3'),
  uniqueLocal: cidrs('fc00::/7'),
  linkLocal: cidrs('fe80::/10'),
  multicast: cidrs('ff00::/8')
}

const ZONE_RE = /^[A-Za-z0-9_.-]{1,64}$/
const MAX_ADDRESS_TEXT = 100

function invalid (text: unknown, why: string): ToolkitError {
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, MAX_ADDRESS_TEXT)) : typeof text
  return new ToolkitError(ErrorCode.InvalidAddress, `invalid IP address ${shown}: ${why}`)
}

/**
 * Parses an IP address strictly (no shorthand, octal, hex or whitespace) and classifies it.
 * Throws ERR_INVALID_ADDRESS on anything else.
 *
 * @example
 * ```ts
 * parseIp('::ffff:100.64.1.2') // { address: '100.64.1.2', family: 4, range: 'carrierGradeNat', mapped: true }
 * ```
 */
export function parseIp (text: string): ParsedIp {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_ADDRESS_TEXT) throw invalid(text, 'empty or too long')
  let base = text
  let zone: string | undefined
  const pct = text.indexOf('%')
  if (pct !== -1) {
    base = text.slice(0, pct)
    zone = text.slice(pct + 1)
    if (!ZONE_RE.test(zone)) throw invalid(text, 'bad zone id')
  }
  const kind = isIP(base)
  if (kind === 4) {
    if (zone !== undefined) throw invalid(text, 'IPv4 has no zone')
    if (!ipaddr.IPv4.isValidFourPartDecimal(base)) throw invalid(text, 'not a four-part decimal')
    const v4 = ipaddr.IPv4.parse(base)
    return { address: v4.toString(), family: 4, range: rangeOf(v4) }
  }
  if (kind !== 6) throw invalid(text, 'not an IP address')
  const v6 = ipaddr.IPv6.parse(base)
  if (v6.isIPv4MappedAddress()) {
    if (zone !== undefined) throw invalid(text, 'IPv4-mapped address with a zone')
    const v4 = v6.toIPv4Address()
    return { address: v4.toString(), family: 4, range: rangeOf(v4), mapped: true }
  }
  const parsed: ParsedIp = { address: v6.toRFC5952String(), family: 6, range: rangeOf(v6) }
  if (zone !== undefined) parsed.zone = zone
  return parsed
}

/** Like {@link parseIp} but returns undefined instead of throwing. */
export function tryParseIp (text: string | undefined | null): ParsedIp | undefined {
  if (typeof text !== 'string') return undefined
  try {
    return parseIp(text)
  } catch {
    return undefined
  }
}

/**
 * The family of an IP literal as written, without classifying it: a zone is allowed and an
 * IPv4-mapped IPv6 address counts as 6 (the socket family it needs). Undefined when it is not one.
 */
export function ipFamily (text: string): IpFamily | undefined {
  const family = isIP(text.split('%')[0] ?? '')
  return family === 4 ? 4 : family === 6 ? 6 : undefined
}

function rangeOf (addr: ipaddr.IPv4 | ipaddr.IPv6): AddressRange {
  if (addr.kind() === 'ipv4') return ipaddr.subnetMatch(addr, V4_RANGES, 'global') as AddressRange
  return ipaddr.subnetMatch(addr, V6_RANGES, 'reserved') as AddressRange
}

/** Range of a strictly parsed address; throws ERR_INVALID_ADDRESS on garbage. */
export function classifyIp (text: string): AddressRange {
  return parseIp(text).range
}

/** Canonical form of an address (unwrapped, RFC 5952), or undefined when it does not parse. */
export function canonicalIp (text: string | undefined | null): string | undefined {
  return tryParseIp(text)?.address
}

/** True when both strings are the same address (after canonicalisation). */
export function sameIp (a: string | undefined | null, b: string | undefined | null): boolean {
  const x = canonicalIp(a)
  return x !== undefined && x === canonicalIp(b)
}

/** True for a public (globally routable unicast) IPv4 address; false for garbage. */
export function isPublicIPv4 (text: string | undefined | null): boolean {
  const p = tryParseIp(text)
  return p?.family === 4 && p.range === 'global'
}

/** True for a global unicast IPv6 address (2000::/3 minus documentation, 6to4, Teredo, benchmarking, ORCHID). */
export function isGlobalIPv6 (text: string | undefined | null): boolean {
  const p = tryParseIp(text)
  return p?.family === 6 && p.range === 'global'
}

/** True for an RFC 1918 private IPv4 address. */
export function isPrivateIPv4 (text: string | undefined | null): boolean {
  const p = tryParseIp(text)
  return p?.family === 4 && p.range === 'private'
}

/** True for an address in the shared carrier-grade NAT block 100.64.0.0/10 (RFC 6598). */
export function isCarrierGradeNat (text: string | undefined | null): boolean {
  const p = tryParseIp(text)
  return p?.family === 4 && p.range === 'carrierGradeNat'
}

/** A host and port, e.g. from `[2001:db8::1]:3478`. */
export interface HostPort {
  /** Canonical IP text, or a lower-cased DNS name. */
  host: string
  /** Port 1-65535 (or 0 when `allowZeroPort`). */
  port: number
  /** IP version when `host` is an IP literal; undefined for names. */
  family?: IpFamily
}

/** Options for {@link parseHostPort}. */
export interface ParseHostPortOptions {
  /** Port used when the text has none; without it a port is required. */
  defaultPort?: number
  /** Accept DNS names (RFC 1123 labels). @default true */
  allowNames?: boolean
  /** Accept port 0. @default false */
  allowZeroPort?: boolean
}

const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/

function isHostName (text: string): boolean {
  if (text.length === 0 || text.length > 253) return false
  const name = text.endsWith('.') ? text.slice(0, -1) : text
  const labels = name.split('.')
  if (!labels.every(l => LABEL_RE.test(l))) return false
  // inet_aton-style numbers (`127.1`, `0x7f.1`, `2130706433`) would resolve to addresses: refuse them as names.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return false
  return !labels.every(l => /^(0x[0-9a-f]*|[0-9]+)$/.test(l))
}

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT`, a bare IPv6 literal, or `HOST` (with `defaultPort`).
 * IP literals are validated strictly and canonicalised. Throws ERR_INVALID_ADDRESS.
 */
export function parseHostPort (text: string, options: ParseHostPortOptions = {}): HostPort {
  if (typeof text !== 'string' || text.length === 0 || text.length > 300) throw invalid(text, 'empty or too long')
  let hostText: string
  let portText: string | undefined
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text)
  if (bracket !== null) {
    hostText = bracket[1] ?? ''
    portText = bracket[2]
    if (ipFamily(hostText) !== 6) throw invalid(text, 'brackets must hold an IPv6 address')
  } else if (ipFamily(text) === 6) {
    hostText = text
  } else {
    const m = /^([^:]+)(?::([0-9]+))?$/.exec(text)
    if (m === null) throw invalid(text, 'expected HOST:PORT or [IPV6]:PORT')
    hostText = m[1] ?? ''
    portText = m[2]
  }
  let port: number
  if (portText === undefined) {
    if (options.defaultPort === undefined) throw invalid(text, 'port missing')
    port = options.defaultPort
  } else {
    if (portText.length > 5) throw invalid(text, 'port out of range')
    port = Number(portText)
  }
  const minPort = options.allowZeroPort === true ? 0 : 1
  if (!Number.isInteger(port) || port < minPort || port > 65535) throw invalid(text, 'port out of range')
  const ip = tryParseIp(hostText)
  if (ip !== undefined) return { host: ip.zone === undefined ? ip.address : `${ip.address}%${ip.zone}`, port, family: ip.family }
  const name = hostText.toLowerCase()
  if (options.allowNames === false || !isHostName(name)) throw invalid(text, 'not an IP address or host name')
  return { host: name, port }
}


/** Extracts the host of an `http(s)://` URL strictly: bracketed IPv6 is unwrapped, anything unparsable gives undefined. */
export function urlHost (url: string): string | undefined {
  try {
    const u = new URL(url)
    const h = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    return h === '' ? undefined : h
  } catch {
    return undefined
  }
}
