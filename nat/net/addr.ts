/**
 * IP address range classification for the NAT module (public, private, CGNAT, global IPv6, …).
 *
 * Every address nat/ reasons about goes through {@link parseIp}, which parses strictly with the
 * shared `parseIpLiteral` (src/host-port.ts; host:port text, brackets and IPv4-mapped unwrapping
 * live there too) and adds the range.
 */
import ipaddr from 'ipaddr.js'
import { parseIpLiteral, tryParseIpLiteral, type IpLiteral } from '../../src/host-port.ts'

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

/** A strictly parsed IP address with its range. */
export interface ParsedIp extends IpLiteral {
  /** Range classification. */
  range: AddressRange
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

/**
 * Parses an IP address strictly (src/host-port.ts `parseIpLiteral`: no shorthand, octal, hex or
 * whitespace; IPv4-mapped IPv6 unwrapped) and classifies it. Throws ERR_INVALID_ADDRESS on anything else.
 *
 * @example
 * ```ts
 * parseIp('::ffff:100.64.1.2') // { address: '100.64.1.2', family: 4, range: 'carrierGradeNat', mapped: true }
 * ```
 */
export function parseIp (text: string): ParsedIp {
  return withRange(parseIpLiteral(text))
}

/** Like {@link parseIp} but returns undefined instead of throwing. */
export function tryParseIp (text: string | undefined | null): ParsedIp | undefined {
  const literal = tryParseIpLiteral(text)
  return literal === undefined ? undefined : withRange(literal)
}

function withRange (literal: IpLiteral): ParsedIp {
  return { ...literal, range: rangeOf(ipaddr.parse(literal.address)) }
}

function rangeOf (addr: ipaddr.IPv4 | ipaddr.IPv6): AddressRange {
  if (addr.kind() === 'ipv4') return ipaddr.subnetMatch(addr, V4_RANGES, 'global') as AddressRange
  return ipaddr.subnetMatch(addr, V6_RANGES, 'reserved') as AddressRange
}

/**
 * The special-purpose block an address falls in, as CIDR text (`192.168.0.0/16`, `100.64.0.0/10`,
 * `2001:db8::/32`, …); undefined for a global unicast address or garbage.
 */
export function rangeBlockOf (text: string | undefined | null): string | undefined {
  const p = tryParseIp(text)
  if (p === undefined || p.range === 'global') return undefined
  const addr = ipaddr.parse(p.address)
  const table = p.family === 4 ? V4_RANGES : V6_RANGES
  for (const [base, bits] of table[p.range] ?? []) {
    if (addr.kind() === base.kind() && addr.match(base, bits)) return `${base.toString()}/${bits}`
  }
  return p.family === 6 ? 'outside 2000::/3' : undefined
}

/** `private, 192.168.0.0/16`: an address's range with its block, for notes and reasons. */
export function describeRange (text: string | undefined | null): string {
  const p = tryParseIp(text)
  if (p === undefined) return 'not an IP address'
  const block = rangeBlockOf(p.address)
  return block === undefined ? p.range : `${p.range}, ${block}`
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
