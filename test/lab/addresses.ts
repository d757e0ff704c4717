/**
 * The lab's address plan. Every address exists only inside lab namespaces. The "internet" uses
 * 11.0.0.0/8 and 2a00:11::/64 (public-looking, because miniupnpd refuses reserved WAN ranges such
 * as TEST-NET, 100.64/10 or RFC 1918); "public" clients use 12.0.<n>.0/24 and 2a00:12:0:<n>::/64.
 */

/** STUN primary address (our server and coturn) in the internet namespace. */
export const STUN_PRIMARY_V4 = '11.0.0.1'
/** STUN alternate address (RFC 5780 OTHER-ADDRESS) in the internet namespace. */
export const STUN_ALTERNATE_V4 = '11.0.0.2'
/** The dial-back reflector's address in the internet namespace. */
export const REFLECTOR_V4 = '11.0.0.3'
/** The reflector's IPv6 address. */
export const REFLECTOR_V6 = '2a00:11::3'
/**
 * "Some host on the internet" that no client ever contacts: the source of the judges' inbound
 * checks, so an address-restricted filter cannot let them through.
 */
export const INTERNET_HOST_V4 = '11.0.0.4'
/** IPv6 counterpart of {@link INTERNET_HOST_V4}. */
export const INTERNET_HOST_V6 = '2a00:11::4'
/**
 * The source address of the reflector's dial-backs: no client ever sends to it, so a dial-back
 * proves the path is open to strangers, not just to an address the probe contacted.
 */
export const REFLECTOR_DIAL_FROM_V4 = '11.0.0.5'
/** IPv6 counterpart of {@link REFLECTOR_DIAL_FROM_V4}. */
export const REFLECTOR_DIAL_FROM_V6 = '2a00:11::5'
/**
 * A second reflector address (same reflector process): a dial-back failure refutes reachability
 * only when two reflectors agree (issue 8 item 2), so the lab offers two.
 */
export const REFLECTOR2_V4 = '11.0.0.6'
/** IPv6 counterpart of {@link REFLECTOR2_V4}. */
export const REFLECTOR2_V6 = '2a00:11::6'
/** IPv4 addresses of the internet namespace (STUN primary and alternate, reflectors, internet host, dial-back source). */
export const INET_V4 = [STUN_PRIMARY_V4, STUN_ALTERNATE_V4, REFLECTOR_V4, INTERNET_HOST_V4, REFLECTOR_DIAL_FROM_V4, REFLECTOR2_V4] as const
/** IPv6 addresses of the internet namespace. */
export const INET_V6 = ['2a00:11::1', '2a00:11::2', REFLECTOR_V6, INTERNET_HOST_V6, REFLECTOR_DIAL_FROM_V6, REFLECTOR2_V6] as const
/** IPv4 prefix length on the internet bridge. */
export const INET_V4_PLEN = 8
/** IPv6 prefix length on the internet bridge. */
export const INET_V6_PLEN = 64

/** Our STUN server's ports (fixed: the internet namespace is private to one lab run). */
export const STUN_PORTS = { primary: 3478, alternate: 3479 } as const
/** coturn's ports (the independent judge's server). */
export const COTURN_PORTS = { primary: 4478, alternate: 4479 } as const
/** The reflector's HTTP port. */
export const REFLECTOR_PORT = 8080

/** WAN address of the edge router of topology `n` (1…250). */
export function wanV4 (n: number): string {
  return `11.0.${n}.10`
}

/** WAN IPv6 address of the edge router of topology `n`. */
export function wanV6 (n: number): string {
  return `2a00:11::${n.toString(16)}:10`
}

/** The public /24 given to a "public" client network in topology `n`: router `.1`, client `.2`. */
export function publicLanV4 (n: number): { net: string, router: string, client: string } {
  return { net: `12.0.${n}.0/24`, router: `12.0.${n}.1`, client: `12.0.${n}.2` }
}

/** The routed IPv6 /64 of topology `n`'s LAN: router `::1`, client `::2`. */
export function lanV6 (n: number): { net: string, router: string, client: string } {
  const p = `2a00:12:0:${n.toString(16)}`
  return { net: `${p}::/64`, router: `${p}::1`, client: `${p}::2` }
}

/** A home LAN behind NAT (the same in every topology: each lives in its own namespaces). */
export const HOME_LAN = { net: '192.168.1.0/24', router: '192.168.1.1', client: '192.168.1.2', plen: 24 } as const

/** The carrier-grade NAT's inside network (RFC 6598 shared address space). */
export const CARRIER_LAN = { carrier: '100.64.0.1', home: '100.64.0.2', plen: 10 } as const
