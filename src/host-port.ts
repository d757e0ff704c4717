/**
 * Host, port and IP-literal text, shared by every module: the one place that parses
 * `HOST:PORT`, strips IPv6 brackets, unwraps IPv4-mapped IPv6 and formats `host:port`.
 *
 * IP literals are parsed strictly: `net.isIP` (and, for IPv4, ipaddr.js's four-part-decimal
 * check) runs first, because ipaddr.js alone accepts loose forms such as `1.2.3` or `0x7f.1`
 * (the `ip` package's CVE-2024-29415 class of bug).
 */
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { ErrorCode, ToolkitError } from './errors.ts'

/** IP version. */
export type IpFamily = 4 | 6

/** A strictly parsed IP literal in canonical form. */
export interface IpLiteral {
  /** Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (no zone). */
  address: string
  /** IP version (after unwrapping IPv4-mapped IPv6). */
  family: IpFamily
  /** IPv6 zone (scope) id, e.g. `eth0` for `fe80::1%eth0`. */
  zone?: string
  /** True when the input was an IPv4-mapped IPv6 address that was unwrapped. */
  mapped?: boolean
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

const ZONE_RE = /^[A-Za-z0-9_.-]{1,64}$/
const MAX_ADDRESS_TEXT = 100
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/

/** ERR_INVALID_ADDRESS for `text`, quoting at most 100 characters of it. */
export function invalidAddress (text: unknown, why: string): ToolkitError {
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, MAX_ADDRESS_TEXT)) : typeof text
  return new ToolkitError(ErrorCode.InvalidAddress, `invalid IP address ${shown}: ${why}`)
}

/**
 * Formats a host and port, bracketing IPv6 literals: `[2001:db8::1]:3478`, `10.0.0.1:9485`.
 *
 * @example
 * ```ts
 * `http://${formatHostPort('::1', 9484)}/` // 'http://[::1]:9484/'
 * ```
 */
export function formatHostPort (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** A host without IPv6 brackets: `[::1]` becomes `::1`; anything else is returned as is. */
export function unbracketHost (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/** Extracts the host of an `http(s)://` URL strictly: bracketed IPv6 is unwrapped, anything unparsable gives undefined. */
export function urlHost (url: string | URL): string | undefined {
  try {
    const h = unbracketHost(new URL(url).hostname)
    return h === '' ? undefined : h
  } catch {
    return undefined
  }
}

/** A socket's IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as IPv4 (`10.0.0.1`); anything else is returned as is. */
export function unwrapIPv4Mapped (address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/**
 * The family of an IP literal as written, without canonicalising it: a zone is allowed and an
 * IPv4-mapped IPv6 address counts as 6 (the socket family it needs). Undefined when it is not one.
 */
export function ipFamily (text: string): IpFamily | undefined {
  const family = isIP(text.split('%')[0] ?? '')
  return family === 4 ? 4 : family === 6 ? 6 : undefined
}

/**
 * Parses an IP literal strictly (no shorthand, octal, hex or whitespace) into canonical form,
 * unwrapping IPv4-mapped IPv6. Throws ERR_INVALID_ADDRESS on anything else.
 */
export function parseIpLiteral (text: string): IpLiteral {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_ADDRESS_TEXT) throw invalidAddress(text, 'empty or too long')
  let base = text
  let zone: string | undefined
  const pct = text.indexOf('%')
  if (pct !== -1) {
    base = text.slice(0, pct)
    zone = text.slice(pct + 1)
    if (!ZONE_RE.test(zone)) throw invalidAddress(text, 'bad zone id')
  }
  const kind = isIP(base)
  if (kind === 4) {
    if (zone !== undefined) throw invalidAddress(text, 'IPv4 has no zone')
    if (!ipaddr.IPv4.isValidFourPartDecimal(base)) throw invalidAddress(text, 'not a four-part decimal')
    return { address: ipaddr.IPv4.parse(base).toString(), family: 4 }
  }
  if (kind !== 6) throw invalidAddress(text, 'not an IP address')
  const v6 = ipaddr.IPv6.parse(base)
  if (v6.isIPv4MappedAddress()) {
    if (zone !== undefined) throw invalidAddress(text, 'IPv4-mapped address with a zone')
    return { address: v6.toIPv4Address().toString(), family: 4, mapped: true }
  }
  return zone === undefined ? { address: v6.toRFC5952String(), family: 6 } : { address: v6.toRFC5952String(), family: 6, zone }
}

/** Like {@link parseIpLiteral} but returns undefined instead of throwing. */
export function tryParseIpLiteral (text: string | undefined | null): IpLiteral | undefined {
  if (typeof text !== 'string') return undefined
  try {
    return parseIpLiteral(text)
  } catch {
    return undefined
  }
}

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
 * IP literals are validated strictly and canonicalised. Throws ERR_INVALID_ADDRESS; a CLI
 * turns that into a usage error with `hostPortFlag` (src/cli/args.ts).
 */
export function parseHostPort (text: string, options: ParseHostPortOptions = {}): HostPort {
  if (typeof text !== 'string' || text.length === 0 || text.length > 300) throw invalidAddress(text, 'empty or too long')
  let hostText: string
  let portText: string | undefined
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text)
  if (bracket !== null) {
    hostText = bracket[1] ?? ''
    portText = bracket[2]
    if (ipFamily(hostText) !== 6) throw invalidAddress(text, 'brackets must hold an IPv6 address')
  } else if (ipFamily(text) === 6) {
    hostText = text
  } else {
    const m = /^([^:]+)(?::([0-9]+))?$/.exec(text)
    if (m === null) throw invalidAddress(text, 'expected HOST:PORT or [IPV6]:PORT')
    hostText = m[1] ?? ''
    portText = m[2]
  }
  let port: number
  if (portText === undefined) {
    if (options.defaultPort === undefined) throw invalidAddress(text, 'port missing')
    port = options.defaultPort
  } else {
    if (portText.length > 5) throw invalidAddress(text, 'port out of range')
    port = Number(portText)
  }
  const minPort = options.allowZeroPort === true ? 0 : 1
  if (!Number.isInteger(port) || port < minPort || port > 65535) throw invalidAddress(text, 'port out of range')
  const ip = tryParseIpLiteral(hostText)
  if (ip !== undefined) return { host: ip.zone === undefined ? ip.address : `${ip.address}%${ip.zone}`, port, family: ip.family }
  const name = hostText.toLowerCase()
  if (options.allowNames === false || !isHostName(name)) throw invalidAddress(text, 'not an IP address or host name')
  return { host: name, port }
}
