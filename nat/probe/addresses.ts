/**
 * Every local address with the reason it was or was not used (issue 8 item 8): nothing is
 * skipped silently. Overlay interfaces (Tailscale, WireGuard, ZeroTier, tun) are marked: their
 * addresses, even in 100.64.0.0/10, say nothing about the carrier's NAT.
 */
import { rangeBlockOf } from '../net/addr.ts'
import type { LocalAddress } from '../net/interfaces.ts'
import type { LocalScan } from './local.ts'
import type { ProbeAddressEntry } from './schema.ts'

/** Interface names of overlay networks that bring their own addressing (often 100.64.0.0/10). */
const OVERLAY_INTERFACE = /^(tailscale\d*|wg[\w-]*|zt[\w]+|utun\d+|tun\d+|nebula\d*|ts\d+)$/

/** True when `name` is an overlay (VPN / mesh) interface. */
export function isOverlayInterface (name: string): boolean {
  return OVERLAY_INTERFACE.test(name)
}

function reasonFor (a: LocalAddress, overlay: boolean, ipv6Enabled: boolean, servingRank: number): { used: boolean, reason: string } {
  const block = rangeBlockOf(a.address)
  const where = block === undefined ? a.range : `${a.range}, ${block}`
  if (a.internal || a.range === 'loopback') return { used: false, reason: `${where}: reaches this host only` }
  if (overlay) return { used: false, reason: `overlay interface ${a.interface} (${where}): the overlay's own addressing, not the path to the internet and never CGNAT evidence` }
  if (a.family === 6 && !ipv6Enabled) return { used: false, reason: 'IPv6 probes are off (--no-v6)' }
  if (a.range === 'global') {
    if (a.family === 4) return { used: true, reason: 'global IPv4 on an interface: a direct-path claim, verified only by a dial-back' }
    if (a.flags?.deprecated === true) return { used: false, reason: 'global IPv6, deprecated (preferred lifetime over)' }
    if (a.flags?.tentative === true || a.flags?.dadFailed === true) return { used: false, reason: 'global IPv6, not usable yet (duplicate address detection)' }
    return { used: true, reason: `global IPv6: serving candidate ${servingRank + 1}${a.flags?.temporary === true ? ' (temporary privacy address, ranked last)' : ''}` }
  }
  if (a.range === 'linkLocal') return { used: false, reason: `${where}: this link only` }
  if (a.family === 4 && (a.range === 'private' || a.range === 'carrierGradeNat')) return { used: true, reason: `${where}: the LAN side (port mapping and STUN source), not reachable from the internet by itself` }
  return { used: false, reason: `${where}: not globally routable, skipped` }
}

/** One entry per local address, in interface order. */
export function describeLocalAddresses (local: LocalScan, ipv6Enabled: boolean): ProbeAddressEntry[] {
  return local.locals.map(a => {
    const overlay = isOverlayInterface(a.interface)
    const { used, reason } = reasonFor(a, overlay, ipv6Enabled, local.ranked6.indexOf(a))
    return {
      interface: a.interface, address: a.address, family: a.family, prefix_length: a.prefixLength, range: a.range,
      block: rangeBlockOf(a.address) ?? null, overlay, used, reason
    }
  })
}
