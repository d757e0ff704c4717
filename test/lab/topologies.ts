/**
 * NAT lab topologies. Each builder creates its router and client namespaces, links the edge
 * router's WAN to the lab's internet bridge, and loads the router's nft rules. Each topology
 * also states its ground truth (the behaviour its rules produce), which the judges confirm.
 * (About 300 lines: one switch keeps each router's rules next to its ground truth.)
 */
import { CARRIER_LAN, HOME_LAN, INET_V4_PLEN, INET_V6_PLEN, lanV6, publicLanV4, wanV4, wanV6 } from './addresses.ts'
import type { LabProcess } from './processes.ts'
import type { NamespaceSet } from './namespaces.ts'
import { execIn, flushConntrack, ipIn, nftIn, sysctlIn } from './namespaces.ts'
import {
  LAN_IF, SEEN_SET, WAN_IF, fullConeRules, type MiniupnpdRouterNat, inboundFirewallRules, masqueradeRules,
  miniupnpdSkeletonRules, restrictedConeRules, udpBlockedRules
} from './nft-rules.ts'
import { startMiniupnpd } from './miniupnpd.ts'

/** RFC 4787 / RFC 5780 behaviour vocabulary (the probe's JSON uses the same strings). */
export type Behaviour = 'none' | 'endpoint_independent' | 'address_dependent' | 'address_and_port_dependent' | 'unknown'

/** `nat_type` vocabulary (spec §2.2). */
export type NatType = 'direct' | 'full_cone' | 'restricted_cone' | 'port_restricted' | 'symmetric' | 'unknown'

/** Every topology the judges' test (nat-behavior) checks. */
export const TOPOLOGY_NAMES = [
  'public', 'firewalled-public', 'full-cone', 'restricted-cone', 'port-restricted', 'symmetric',
  'cgnat', 'cgnat-no-upnp', 'udp-blocked', 'ipv6-open', 'ipv6-firewalled', 'upnp'
] as const

/**
 * The `upnp` router with another IPv4 NAT behind miniupnpd (full cone, symmetric). Built by the
 * same code as `upnp`; only the ladder's full table (`npm run lab:ladder`) uses them.
 */
export const UPNP_VARIANT_NAMES = ['upnp-full-cone', 'upnp-symmetric'] as const

/** One topology name. */
export type TopologyName = typeof TOPOLOGY_NAMES[number] | typeof UPNP_VARIANT_NAMES[number]

/** Topologies that run miniupnpd (they need the miniupnpd, upnpc and natpmpc binaries). */
export const MINIUPNPD_TOPOLOGIES: readonly TopologyName[] = ['cgnat', 'upnp', ...UPNP_VARIANT_NAMES]

/** True when `s` names a topology. */
export function isTopologyName (s: string): s is TopologyName {
  return ([...TOPOLOGY_NAMES, ...UPNP_VARIANT_NAMES] as readonly string[]).includes(s)
}

/** What a topology's rules produce, by construction. */
export interface GroundTruth {
  /** UDP mapping behaviour seen by an internet STUN server. */
  mapping: Behaviour
  /** UDP filtering behaviour. */
  filtering: Behaviour
  natType: NatType
  udpBlocked: boolean
  /** A carrier-grade NAT (100.64.0.0/10 inside) sits on the path. */
  cgnat: boolean
  /** A new TCP connection from the internet to `publicV4:port` reaches the client without any mapping. */
  inboundV4Open: boolean
  /** Same for IPv6 to the client's global address; undefined when the topology has no IPv6. */
  inboundV6Open?: boolean
}

/** A built topology. */
export interface Topology {
  readonly name: TopologyName
  /** Index used in its addresses (11.0.<n>.10, …). */
  readonly index: number
  readonly description: string
  /** Namespace the node (probe, judges' clients, services) runs in. */
  readonly clientNs: string
  /** The client's own IPv4 address. */
  readonly clientV4: string
  /** The client's global IPv6 address, when the topology has IPv6. */
  readonly clientV6?: string
  /** The IPv4 address internet hosts see and connect to (edge router WAN, or the client itself). */
  readonly publicV4: string
  /** The gateway the client uses (UPnP/NAT-PMP live there in the `upnp` topology). */
  readonly gatewayV4: string
  /** Router namespaces, client side first. */
  readonly routerNs: readonly string[]
  readonly truth: GroundTruth
  /** miniupnpd on the client's gateway (`upnp`, `cgnat`). */
  readonly miniupnpd?: LabProcess
  /** The gateway's UPnP description URL over IPv4 (for `upnpc -u`, which skips SSDP). */
  readonly igdUrl?: string
  /** The same over IPv6 (for `upnpc -6 -u`). */
  readonly igdUrlV6?: string
  /** Forgets NAT state: flushes conntrack in every router and empties the "seen" set. */
  resetState: () => Promise<void>
}

/** What topology builders need from the lab. */
export interface LabContext {
  readonly ns: NamespaceSet
  /** The internet namespace (bridge `br0`). */
  readonly inetNs: string
  /** Scratch directory owned by the lab (configs, pid files). */
  readonly tmpDir: string
  /** Starts a tracked process inside a namespace. */
  start: (name: string, ns: string, cmd: string, args: readonly string[]) => LabProcess
}

/** Creates a veth pair `ifA`@nsA ↔ `ifB`@nsB and sets both ends up. */
async function link (nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
  await ipIn(nsA, ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB])
  await ipIn(nsA, ['link', 'set', ifA, 'up'])
  await ipIn(nsB, ['link', 'set', ifB, 'up'])
}

async function addAddr (ns: string, dev: string, cidr: string): Promise<void> {
  await ipIn(ns, cidr.includes(':') ? ['-6', 'addr', 'add', cidr, 'dev', dev, 'nodad'] : ['addr', 'add', cidr, 'dev', dev])
}

/** A namespace that forwards (router) or not (client); IPv6 DAD off so addresses are usable at once. */
async function createNode (ctx: LabContext, short: string, forwarding: boolean): Promise<string> {
  const ns = await ctx.ns.create(short)
  await sysctlIn(ns, {
    'net.ipv6.conf.all.accept_dad': '0',
    'net.ipv6.conf.default.accept_dad': '0',
    'net.ipv6.conf.all.accept_ra': '0',
    'net.ipv6.conf.default.accept_ra': '0',
    'net.ipv4.ip_forward': forwarding ? '1' : '0',
    'net.ipv6.conf.all.forwarding': forwarding ? '1' : '0'
  })
  return ns
}

/** An edge router attached to the internet bridge as 11.0.<n>.10 (and 2a00:11::<n>:10 with IPv6). */
async function edgeRouter (ctx: LabContext, n: number, short: string, v6: boolean): Promise<string> {
  const ns = await createNode(ctx, short, true)
  const bridgePort = `r${n}`
  await link(ctx.inetNs, bridgePort, ns, WAN_IF)
  await ipIn(ctx.inetNs, ['link', 'set', bridgePort, 'master', 'br0'])
  await addAddr(ns, WAN_IF, `${wanV4(n)}/${INET_V4_PLEN}`)
  if (v6) await addAddr(ns, WAN_IF, `${wanV6(n)}/${INET_V6_PLEN}`)
  return ns
}

/** A client behind `routerNs` with `addr/plen` on `eth0` and a default route via `gw`. */
async function client (ctx: LabContext, short: string, routerNs: string, v4: { addr: string, gw: string, plen: number }, v6?: { addr: string, gw: string }): Promise<string> {
  const ns = await createNode(ctx, short, false)
  await link(routerNs, LAN_IF, ns, 'eth0')
  await addAddr(routerNs, LAN_IF, `${v4.gw}/${v4.plen}`)
  await addAddr(ns, 'eth0', `${v4.addr}/${v4.plen}`)
  await ipIn(ns, ['route', 'add', 'default', 'via', v4.gw])
  if (v6 !== undefined) {
    await addAddr(routerNs, LAN_IF, `${v6.gw}/64`)
    await addAddr(ns, 'eth0', `${v6.addr}/64`)
    await ipIn(ns, ['-6', 'route', 'add', 'default', 'via', v6.gw])
  }
  return ns
}

/** Makes the client's routed IPv6 /64 reachable from the internet namespace. */
async function routeV6ToLan (ctx: LabContext, n: number): Promise<void> {
  await ipIn(ctx.inetNs, ['-6', 'route', 'add', lanV6(n).net, 'via', wanV6(n)])
}

const DESCRIPTIONS: Record<TopologyName, string> = {
  public: 'no NAT: the client has a public address behind a plain router',
  'firewalled-public': 'public address, router forward chain drops new inbound connections',
  'full-cone': '1:1 NAT (DNAT + SNAT of the WAN address)',
  'restricted-cone': '1:1 NAT plus the dynamic "seen address" filter (address-dependent filtering)',
  'port-restricted': 'Linux masquerade (endpoint-independent mapping, address-and-port-dependent filtering)',
  symmetric: 'masquerade random,fully-random (address-and-port-dependent mapping)',
  cgnat: 'home router (masquerade, miniupnpd) behind a carrier masquerade NAT whose inside network is 100.64.0.0/10',
  'cgnat-no-upnp': 'home router (plain masquerade, no UPnP) behind a carrier masquerade NAT whose inside network is 100.64.0.0/10',
  'udp-blocked': 'masquerade, and the router drops all outbound UDP',
  'ipv6-open': 'dual stack: IPv4 masquerade, routed IPv6 with no inbound firewall',
  'ipv6-firewalled': 'dual stack: IPv4 masquerade, routed IPv6 behind a stateful inbound firewall',
  upnp: 'home router running miniupnpd (UPnP-IGD + NAT-PMP + IPv6 pinholes), masquerade, forward policy drop',
  'upnp-full-cone': 'the upnp router with 1:1 NAT (DNAT + SNAT of the WAN address) instead of masquerade',
  'upnp-symmetric': 'the upnp router with masquerade random,fully-random (address-and-port-dependent mapping)'
}

const NATTED: GroundTruth = {
  mapping: 'endpoint_independent', filtering: 'address_and_port_dependent', natType: 'port_restricted',
  udpBlocked: false, cgnat: false, inboundV4Open: false
}

/** Builds topology `name` as number `n` (1…250) of the lab. */
export async function buildTopology (ctx: LabContext, name: TopologyName, n: number): Promise<Topology> {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error(`topology index out of range: ${n}`)
  const tag = `t${n}`
  const home = { addr: HOME_LAN.client, gw: HOME_LAN.router, plen: HOME_LAN.plen }
  const resetRouters = (routers: string[], seenSetIn?: string) => async (): Promise<void> => {
    for (const r of routers) await flushConntrack(r)
    if (seenSetIn !== undefined) await execIn(seenSetIn, 'nft', ['flush', 'set', SEEN_SET.family, SEEN_SET.table, SEEN_SET.set])
  }
  const base = { name, index: n, description: DESCRIPTIONS[name] }

  switch (name) {
    case 'public':
    case 'firewalled-public': {
      const lan = publicLanV4(n)
      const r = await edgeRouter(ctx, n, `${tag}-rtr`, false)
      const c = await client(ctx, `${tag}-cli`, r, { addr: lan.client, gw: lan.router, plen: 24 })
      await ipIn(ctx.inetNs, ['route', 'add', lan.net, 'via', wanV4(n)])
      const firewalled = name === 'firewalled-public'
      if (firewalled) await nftIn(r, inboundFirewallRules('ip'))
      return {
        ...base, clientNs: c, clientV4: lan.client, publicV4: lan.client, gatewayV4: lan.router, routerNs: [r],
        truth: {
          mapping: 'none',
          filtering: firewalled ? 'address_and_port_dependent' : 'endpoint_independent',
          natType: 'direct', udpBlocked: false, cgnat: false, inboundV4Open: !firewalled
        },
        resetState: resetRouters([r])
      }
    }
    case 'full-cone':
    case 'restricted-cone':
    case 'port-restricted':
    case 'symmetric':
    case 'udp-blocked': {
      const r = await edgeRouter(ctx, n, `${tag}-rtr`, false)
      const c = await client(ctx, `${tag}-cli`, r, home)
      const truth: Record<typeof name, { rules: string, truth: GroundTruth }> = {
        'full-cone': {
          rules: fullConeRules(wanV4(n), HOME_LAN.client),
          truth: { ...NATTED, filtering: 'endpoint_independent', natType: 'full_cone', inboundV4Open: true }
        },
        'restricted-cone': {
          rules: restrictedConeRules(wanV4(n), HOME_LAN.client),
          // Inbound TCP from an address the client has not contacted is dropped by the seen-address filter.
          truth: { ...NATTED, filtering: 'address_dependent', natType: 'restricted_cone', inboundV4Open: false }
        },
        'port-restricted': { rules: masqueradeRules(), truth: NATTED },
        symmetric: {
          rules: masqueradeRules(true),
          truth: { ...NATTED, mapping: 'address_and_port_dependent', natType: 'symmetric' }
        },
        'udp-blocked': {
          rules: udpBlockedRules(),
          truth: { ...NATTED, mapping: 'unknown', filtering: 'unknown', natType: 'unknown', udpBlocked: true }
        }
      }
      const t = truth[name]
      await nftIn(r, t.rules)
      return {
        ...base, clientNs: c, clientV4: HOME_LAN.client, publicV4: wanV4(n), gatewayV4: HOME_LAN.router, routerNs: [r],
        truth: t.truth,
        resetState: resetRouters([r], name === 'restricted-cone' ? r : undefined)
      }
    }
    case 'cgnat':
    case 'cgnat-no-upnp': {
      const carrier = await edgeRouter(ctx, n, `${tag}-cgn`, false)
      const homeRtr = await createNode(ctx, `${tag}-rtr`, true)
      await link(carrier, LAN_IF, homeRtr, WAN_IF)
      await addAddr(carrier, LAN_IF, `${CARRIER_LAN.carrier}/${CARRIER_LAN.plen}`)
      await addAddr(homeRtr, WAN_IF, `${CARRIER_LAN.home}/${CARRIER_LAN.plen}`)
      await ipIn(homeRtr, ['route', 'add', 'default', 'via', CARRIER_LAN.carrier])
      const c = await client(ctx, `${tag}-cli`, homeRtr, home)
      await nftIn(carrier, masqueradeRules())
      const routers = { ...base, clientNs: c, clientV4: HOME_LAN.client, publicV4: wanV4(n), gatewayV4: HOME_LAN.router, routerNs: [homeRtr, carrier] }
      if (name === 'cgnat-no-upnp') {
        // No router answers UPnP or NAT-PMP: the carrier hop (100.64.0.1, TTL 2) is the only evidence.
        await nftIn(homeRtr, masqueradeRules())
        return { ...routers, truth: { ...NATTED, cgnat: true }, resetState: resetRouters([homeRtr, carrier]) }
      }
      // The home router is an ordinary UPnP router (miniupnpd) whose WAN sits in 100.64.0.0/10.
      await nftIn(homeRtr, miniupnpdSkeletonRules())
      const igd = await startMiniupnpd(ctx, homeRtr, { lanNet: HOME_LAN.net, tag })
      return {
        ...base, clientNs: c, clientV4: HOME_LAN.client, publicV4: wanV4(n), gatewayV4: HOME_LAN.router, routerNs: [homeRtr, carrier],
        truth: { ...NATTED, cgnat: true },
        miniupnpd: igd.process,
        igdUrl: `http://${HOME_LAN.router}:${igd.httpPort}/rootDesc.xml`,
        resetState: resetRouters([homeRtr, carrier])
      }
    }
    case 'ipv6-open':
    case 'ipv6-firewalled': {
      const v6 = lanV6(n)
      const r = await edgeRouter(ctx, n, `${tag}-rtr`, true)
      const c = await client(ctx, `${tag}-cli`, r, home, { addr: v6.client, gw: v6.router })
      await routeV6ToLan(ctx, n)
      const firewalled = name === 'ipv6-firewalled'
      await nftIn(r, masqueradeRules() + (firewalled ? inboundFirewallRules('ip6') : ''))
      return {
        ...base, clientNs: c, clientV4: HOME_LAN.client, clientV6: v6.client, publicV4: wanV4(n), gatewayV4: HOME_LAN.router, routerNs: [r],
        truth: { ...NATTED, inboundV6Open: !firewalled },
        resetState: resetRouters([r])
      }
    }
    case 'upnp':
    case 'upnp-full-cone':
    case 'upnp-symmetric': {
      const v6 = lanV6(n)
      const r = await edgeRouter(ctx, n, `${tag}-rtr`, true)
      const c = await client(ctx, `${tag}-cli`, r, home, { addr: v6.client, gw: v6.router })
      await routeV6ToLan(ctx, n)
      const variant: Record<typeof name, { nat: MiniupnpdRouterNat, truth: GroundTruth }> = {
        upnp: { nat: { kind: 'port-restricted' }, truth: NATTED },
        'upnp-full-cone': {
          nat: { kind: 'full-cone', wanIp: wanV4(n), clientIp: HOME_LAN.client },
          truth: { ...NATTED, filtering: 'endpoint_independent', natType: 'full_cone', inboundV4Open: true }
        },
        'upnp-symmetric': { nat: { kind: 'symmetric' }, truth: { ...NATTED, mapping: 'address_and_port_dependent', natType: 'symmetric' } }
      }
      await nftIn(r, miniupnpdSkeletonRules(variant[name].nat))
      const igd = await startMiniupnpd(ctx, r, { lanNet: HOME_LAN.net, tag })
      return {
        ...base, clientNs: c, clientV4: HOME_LAN.client, clientV6: v6.client, publicV4: wanV4(n), gatewayV4: HOME_LAN.router, routerNs: [r],
        truth: { ...variant[name].truth, inboundV6Open: false },
        miniupnpd: igd.process,
        igdUrl: `http://${HOME_LAN.router}:${igd.httpPort}/rootDesc.xml`,
        igdUrlV6: `http://[${v6.router}]:${igd.httpPort}/rootDesc.xml`,
        resetState: resetRouters([r])
      }
    }
  }
}
