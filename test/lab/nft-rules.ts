/**
 * nftables rulesets for the lab routers, as text for `nft -f -`. Pure functions: each returns
 * the ruleset that gives one RFC 4787 behaviour (spec §8.2/§8.3) or one firewall.
 * Interface names are the lab's: `wan0` faces the internet (or the upstream NAT), `lan0` the client side.
 */

/** Router interface names used by every topology. */
export const WAN_IF = 'wan0'
/** Router interface facing the client (or the downstream NAT). */
export const LAN_IF = 'lan0'

/** Name of the nft table/set holding the "seen address" filter (flush it to reset the filter). */
export const SEEN_SET = { family: 'ip', table: 'filt', set: 'seen' } as const

/**
 * The input chain of a real home router (OpenWrt's fw4 `reject_to_wan`): new TCP and UDP from the
 * WAN to the router itself are rejected by the firewall (TCP reset, ICMP port unreachable), as the
 * kernel would answer a closed port, but the rejected packet's conntrack entry is never confirmed.
 * Without it, a bare `masquerade` router takes a peer's first unsolicited UDP packet (an ICE check
 * to its WAN address) into its own INPUT and confirms a conntrack entry for it; the local client's
 * later packet to that peer then clashes with the entry and is mapped to another port, so hole
 * punching between two such routers fails (see the README's direct paths section). ICMP passes.
 * `family` is the table's: `ip` or `inet` (rules are written for either).
 */
function wanInputChain (family: 'ip' | 'inet'): string {
  return `  chain input {
    type filter hook input priority filter; policy accept;
    iifname "${WAN_IF}" ct state new meta l4proto tcp reject with tcp reset
    iifname "${WAN_IF}" ct state new meta l4proto udp reject with ${family === 'ip' ? 'icmp' : 'icmpx'} type port-unreachable
  }
`
}

/**
 * Port-restricted cone (Linux `masquerade`: endpoint-independent mapping, address-and-port-dependent
 * filtering), or symmetric with `random: true` (`masquerade random,fully-random`: address-and-port-dependent mapping).
 * The router's own input is firewalled like a real router's ({@link wanInputChain}).
 */
export function masqueradeRules (random = false): string {
  return `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${WAN_IF}" masquerade${random ? ' random,fully-random' : ''}
  }
}
table ip wan_input {
${wanInputChain('ip')}}
`
}

/** Full cone: 1:1 NAT, every inbound packet to the WAN address goes to the client (DNAT) and the client's traffic leaves as the WAN address (SNAT). */
export function fullConeRules (wanIp: string, clientIp: string): string {
  return `table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "${WAN_IF}" ip daddr ${wanIp} dnat to ${clientIp}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${WAN_IF}" ip saddr ${clientIp} snat to ${wanIp}
  }
}
`
}

/**
 * Restricted cone: full cone plus the dynamic "seen address" filter of spec §8.3. Outbound packets
 * add their destination address to the set; inbound packets from an address not in the set are dropped.
 * (The chain is not called `fwd`: that is an nft keyword.)
 */
export function restrictedConeRules (wanIp: string, clientIp: string): string {
  return `${fullConeRules(wanIp, clientIp)}table ${SEEN_SET.family} ${SEEN_SET.table} {
  set ${SEEN_SET.set} {
    type ipv4_addr; flags dynamic,timeout; timeout 5m;
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${LAN_IF}" oifname "${WAN_IF}" update @${SEEN_SET.set} { ip daddr }
    iifname "${WAN_IF}" ip saddr != @${SEEN_SET.set} drop
  }
}
`
}

/** The router drops every UDP packet the client sends towards the internet (TCP still works, masqueraded). */
export function udpBlockedRules (): string {
  return `${masqueradeRules()}table ip filt {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${LAN_IF}" oifname "${WAN_IF}" meta l4proto udp drop
  }
}
`
}

/**
 * A stateful firewall with no NAT: replies and client-originated traffic pass, new inbound
 * connections are dropped. `family` chooses IPv4 (`ip`), IPv6 (`ip6`) or both (`inet`).
 */
export function inboundFirewallRules (family: 'ip' | 'ip6' | 'inet'): string {
  return `table ${family} fw_${family} {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "${LAN_IF}" accept
  }
}
`
}

/** The IPv4 NAT a miniupnpd router applies besides miniupnpd's own mappings. */
export type MiniupnpdRouterNat =
  | { kind: 'port-restricted' | 'symmetric' }
  | { kind: 'full-cone', wanIp: string, clientIp: string }

/**
 * The nft skeleton miniupnpd 2.3 (nftables backend, default names) fills in, written by hand
 * because Debian's `nft_init.sh` is broken (spec §8.4): table `inet filter` with a forward chain
 * (policy drop; established and LAN-originated traffic pass; jump `miniupnpd`), NAT chains that
 * jump to `prerouting_miniupnpd`/`postrouting_miniupnpd`, and IPv4 masquerade for LAN traffic.
 * IPv6 inbound is therefore closed unless miniupnpd opens a pinhole. The router's own input is
 * firewalled like a real router's ({@link wanInputChain}).
 *
 * `nat` picks the router's own IPv4 NAT behind miniupnpd's chains: `port-restricted` (default,
 * `masquerade`), `symmetric` (`masquerade random,fully-random`) or `full-cone` (1:1 DNAT + SNAT of
 * the WAN address, inbound to the client accepted). miniupnpd's chains run first in every case.
 */
export function miniupnpdSkeletonRules (nat: MiniupnpdRouterNat = { kind: 'port-restricted' }): string {
  const fullCone = nat.kind === 'full-cone'
  const outbound = fullCone
    ? `oifname "${WAN_IF}" ip saddr ${nat.clientIp} snat ip to ${nat.wanIp}`
    : `oifname "${WAN_IF}" meta nfproto ipv4 masquerade${nat.kind === 'symmetric' ? ' random,fully-random' : ''}`
  return `table inet filter {
${wanInputChain('inet')}  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "${LAN_IF}" accept
    jump miniupnpd${fullCone ? `
    iifname "${WAN_IF}" ip daddr ${nat.clientIp} ct status dnat accept` : ''}
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump prerouting_miniupnpd${fullCone ? `
    iifname "${WAN_IF}" ip daddr ${nat.wanIp} dnat ip to ${nat.clientIp}` : ''}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump postrouting_miniupnpd
    ${outbound}
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`
}
