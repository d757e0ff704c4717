/**
 * miniupnpd (Debian 12, nftables build) on a lab router: UPnP-IGD with WANIPv6FirewallControl,
 * NAT-PMP/PCP, secure mode and an allow rule for the LAN. The router's nft skeleton must already be
 * loaded ({@link miniupnpdSkeletonRules}); Debian's nft_init.sh is broken (spec §8.4).
 */
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LabProcess } from './processes.ts'
import type { LabContext } from './topologies.ts'
import { LAN_IF, WAN_IF } from './nft-rules.ts'

/** Deadline for miniupnpd to report its HTTP and NAT-PMP listeners. */
const MINIUPNPD_READY_MS = 5000

/** The miniupnpd.conf text for a router whose LAN is `lanNet`. */
export function miniupnpdConfig (lanNet: string, uuid: string): string {
  return [
    `ext_ifname=${WAN_IF}`,
    `ext_ifname6=${WAN_IF}`,
    `listening_ip=${LAN_IF}`,
    'http_port=0',
    'enable_upnp=yes',
    'enable_natpmp=yes',
    'secure_mode=yes',
    'ipv6_disable=no',
    'system_uptime=no',
    'notify_interval=60',
    // Expired leases are removed on time; the ruleset is not rescanned for stale rules.
    'clean_ruleset_interval=0',
    // Shortest lease miniupnpd grants to PCP/NAT-PMP requests (UPnP leases are not clamped).
    'min_lifetime=1',
    'max_lifetime=86400',
    `uuid=${uuid}`,
    `allow 1024-65535 ${lanNet} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    ''
  ].join('\n')
}

/** A running miniupnpd. */
export interface Miniupnpd {
  readonly process: LabProcess
  /** Its UPnP HTTP port (description at `/rootDesc.xml` on the router's LAN addresses). */
  readonly httpPort: number
}

/** Writes the config and starts `miniupnpd -d` in `routerNs`; resolves once UPnP and NAT-PMP listen. */
export async function startMiniupnpd (ctx: LabContext, routerNs: string, opts: { lanNet: string, tag: string }): Promise<Miniupnpd> {
  const conf = join(ctx.tmpDir, `miniupnpd-${opts.tag}.conf`)
  const pidFile = join(ctx.tmpDir, `miniupnpd-${opts.tag}.pid`)
  writeFileSync(conf, miniupnpdConfig(opts.lanNet, randomUUID()))
  const proc = ctx.start(`miniupnpd(${opts.tag})`, routerNs, '/usr/sbin/miniupnpd', ['-f', conf, '-d', '-P', pidFile])
  const http = await proc.waitFor(/HTTP listening on port (\d+)/, MINIUPNPD_READY_MS)
  await proc.waitFor(/Listening for NAT-PMP\/PCP traffic on port/, MINIUPNPD_READY_MS)
  return { process: proc, httpPort: Number(http[1]) }
}
