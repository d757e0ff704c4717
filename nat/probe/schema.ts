/**
 * The `iicp-nat-probe/v1` JSON document: what `iicp-nat probe --json` prints and what
 * `probeNetwork()` returns. Field names are snake_case (wire format). Every probe that did not
 * run or failed is still present, with `null` values and an `error`, so consumers never need
 * to guess whether a key exists.
 */
import type { Classification, ReflectorOutcome } from '../classify/classify.ts'
import type { CompatBlock } from '../classify/compat.ts'
import type { NatBehavior } from '../stun/behavior-classify.ts'
import type { ReachabilityCheck } from '../reflector/client.ts'
import type { CarrierHopCheck } from './carrier-hop.ts'

/** Schema identifier carried in {@link ProbeReport.schema}. */
export const PROBE_SCHEMA_ID = 'iicp-nat-probe/v1'

/** The options the probe ran with. */
export interface ProbeInputs {
  /** Port tested (the node's serving port). */
  port: number
  /** STUN servers as `host:port`, in order. */
  stun_servers: string[]
  /** True when the built-in public server list was used. */
  stun_default_servers: boolean
  /** Where the STUN servers came from: `given` (--stun), `reflector` (a relay's GET /v1/nat/info), `default`, `none` (STUN off). */
  stun_source: 'given' | 'reflector' | 'default' | 'none'
  /** Reflector URLs (given, then those the relays' discovery documents named). */
  reflectors: string[]
  /** Relays whose discovery document (GET /v1/nat/info) could not be read, and why. */
  discovery_errors: string[]
  /** `--map`: mappings and pinholes were created (and deleted unless `keep`). */
  map: boolean
  /** `--keep`: mappings and pinholes were left in place. */
  keep: boolean
  /** UPnP-IGD discovery ran. */
  upnp: boolean
  /** NAT-PMP ran. */
  natpmp: boolean
  /** IPv6 probes ran. */
  ipv6: boolean
  /** Explicit gateways (URLs or addresses). */
  gateways: string[]
  /** Interface used for discovery. */
  interface: string | null
  /** Overall deadline. */
  timeout_ms: number
  /** Requested lease for `--map`, seconds. */
  lease_s: number
}

/** One local interface address. */
export interface ProbeLocalAddress {
  /** Interface name. */
  interface: string
  /** Address. */
  address: string
  /** Prefix length. */
  prefix_length: number
  /** Range (`private`, `carrierGradeNat`, `global`, …; see nat/addr.ts). */
  range: string
}

/** Every local address, with whether and why the probe used it. */
export interface ProbeAddressEntry {
  /** Interface name. */
  interface: string
  /** Address. */
  address: string
  /** IP version. */
  family: 4 | 6
  /** Prefix length. */
  prefix_length: number
  /** Range name (`global`, `private`, `carrierGradeNat`, `documentation`, …). */
  range: string
  /** The special-purpose block it falls in (`192.168.0.0/16`, `2001:db8::/32`, …); null for global addresses. */
  block: string | null
  /** On an overlay interface (Tailscale, WireGuard, ZeroTier, tun): never CGNAT evidence. */
  overlay: boolean
  /** The probe used it (as a claim, a serving candidate or the LAN side). */
  used: boolean
  /** Why it was or was not used. */
  reason: string
}

/** Where a WAN address value came from. */
export interface WanIpSource {
  /** `igd` (UPnP GetExternalIPAddress), `natpmp`, `stun` (mapped address), `reflector` (observed address), `interface`. */
  source: 'igd' | 'natpmp' | 'stun' | 'reflector' | 'interface'
  /** The address it reported. */
  value: string
}

/** IPv4 section. */
export interface ProbeIpv4 {
  /** Non-loopback IPv4 addresses. */
  local_addresses: ProbeLocalAddress[]
  /** Public IPv4 addresses directly on an interface. */
  public_on_interface: string[]
  /** The public address as seen from outside. */
  wan_ip: {
    /** Best value (STUN, then reflector, then gateway, then interface). */
    value: string | null
    /** Every source and what it said. */
    sources: WanIpSource[]
    /** All sources agree. */
    consistent: boolean
  }
}

/** One STUN server's answer. */
export interface ProbeStunServer {
  /** `ip:port` probed. */
  server: string
  /** Host as configured (a name when resolved). */
  configured: string
  /** It answered. */
  responded: boolean
  /** Mapped (server-reflexive) `ip:port`. */
  mapped: string | null
  /** RFC 5780 OTHER-ADDRESS. */
  other_address: string | null
  /** Round-trip time. */
  rtt_ms: number | null
  /** Why it gave nothing. */
  error: string | null
}

/** RFC 5780 behaviour section. */
export interface ProbeNatBehavior {
  /** Mapping behaviour (`none` = no NAT). */
  mapping: NatBehavior
  /** Filtering behaviour. */
  filtering: NatBehavior
  /** Hairpinning works; null when not measured. */
  hairpinning: boolean | null
  /** The NAT keeps the local port; null when not measured. */
  port_preserving: boolean | null
  /** No STUN server answered although at least two independent servers were asked: outbound UDP is blocked. */
  udp_blocked: boolean
  /** No STUN server answered, but too few were asked (or resolved) to blame UDP: the servers are unreachable. */
  servers_unreachable: boolean
  /** How firmly the filtering verdict stands: `high` it rests on an answer or every round agreed, `low` rounds disagreed, `none` not measured. */
  confidence: { filtering: 'high' | 'low' | 'none', filtering_rounds: number, filtering_agreeing: number }
  /** How mapping was classified. */
  method: 'rfc5780' | 'two_servers' | 'none'
  /** Mapped `ip:port` from the first answering server. */
  mapped_address: string | null
  /** Local `ip:port` of the probe socket. */
  local_address: string | null
  /** Per-server answers. */
  stun_servers: ProbeStunServer[]
  /** Explanations and caveats from the STUN client. */
  notes: string[]
  /** Why STUN did not run or failed. */
  error: string | null
}

/** A mapping created with `--map`. */
export interface ProbeMapping {
  /** `upnp-igd` or `nat-pmp`. */
  via: 'upnp-igd' | 'nat-pmp'
  /** Transport. */
  protocol: 'tcp' | 'udp'
  /** LAN address. */
  internal_host: string
  /** LAN port. */
  internal_port: number
  /** External port granted. */
  external_port: number
  /** Lease granted, seconds (0 = permanent). */
  lease_s: number
  /** A reflector reached it (null when no reflector ran). */
  verified: boolean | null
  /** Left in place (`--keep`). */
  kept: boolean
  /** Deleted at the end of the probe. */
  deleted: boolean
  /** Delete error, if any. */
  error: string | null
  /** When it could not be deleted: the exact command that removes it. */
  remove_command: string | null
}

/** Port-mapping section. */
export interface ProbePortMapping {
  /** The protocol that would be (or was) used: UPnP preferred. */
  protocol: 'upnp-igd' | 'nat-pmp' | null
  /** UPnP gateway facts. */
  igd: { location: string, device_type: string | null, service_type: string | null, friendly_name: string | null, ipv6_firewall: boolean } | null
  /** NAT-PMP gateway facts. */
  natpmp: { gateway: string, external_ip: string } | null
  /** The gateway's WAN address. */
  external_ip: string | null
  /** Mappings created (only with `--map`). */
  mappings: ProbeMapping[]
  /** Why no mapping protocol is usable, or why mapping failed. */
  error: string | null
  /** Per-protocol discovery errors (`upnp`, `upnp6`, `natpmp`). */
  discovery_errors: Record<string, string>
}

/** One IPv6 address with kernel flags. */
export interface ProbeIpv6Address {
  /** Interface. */
  interface: string
  /** Address. */
  address: string
  /** Prefix length. */
  prefix_length: number
  /** Privacy (temporary) address. */
  temporary: boolean | null
  /** Deprecated (preferred lifetime over). */
  deprecated: boolean | null
  /** Statically configured. */
  permanent: boolean | null
  /** RFC 7217 stable-privacy identifier. */
  stable_privacy: boolean | null
  /** EUI-64 (MAC-derived) identifier. */
  eui64: boolean
}

/** IPv6 section: the upstream Ipv6Profile fields plus firewall, pinhole and verification. */
export interface ProbeIpv6 {
  /** IPv6 probes ran. */
  enabled: boolean
  /** A usable global IPv6 address exists. */
  global_v6_available: boolean
  /** A stable (non-temporary) global address exists. */
  stable_v6_available: boolean
  /** Usable global addresses, best for serving first. */
  addresses: string[]
  /** Every global address with its flags. */
  address_details: ProbeIpv6Address[]
  /** A TCP listener could bind `[::]:port`. */
  listener_v6_ok: boolean | null
  /** An IPv6 reflector answered (outbound IPv6 works); null when none ran. */
  external_v6_reachable: boolean | null
  /** The router's IPv6 firewall control, when found (over IPv6). */
  firewall: { location: string, firewall_enabled: boolean | null, inbound_pinhole_allowed: boolean | null, error: string | null } | null
  /** Upstream field: a pinhole is open. */
  pinhole_active: boolean
  /** Upstream field: its UniqueID. */
  pinhole_unique_id: number | null
  /** Upstream field: its lease. */
  pinhole_lease_seconds: number | null
  /** Upstream field: the router's InboundPinholeAllowed. */
  pinhole_inbound_allowed: boolean | null
  /** The pinhole opened with `--map`. */
  pinhole: { address: string, port: number, unique_id: number | null, lease_s: number | null, kept: boolean, deleted: boolean, error: string | null, remove_command: string | null } | null
  /** An IPv6 reflector reached us; null when none ran. */
  inbound_verified: boolean | null
  /** Why IPv6 probing failed. */
  error: string | null
}

/** A reachability check with the path it tested. */
export interface ProbeReachabilityCheck extends ReachabilityCheck {
  /** What made the port reachable, if anything: `direct` (no mapping), `upnp-igd`, `nat-pmp` or `pinhole`. */
  via: 'direct' | 'upnp-igd' | 'nat-pmp' | 'pinhole'
  /**
   * The dial-back came from an address this probe had contacted (a STUN server, its alternate
   * address, or the reflector itself), or the reflector did not say where from. Such a success
   * also passes an address-restricted filter, so it verifies only an endpoint-independent path.
   */
  dialback_from_contacted: boolean
  /** How classification counted this family's checks together: `reachable`, `unreachable`, `inconclusive`, `local_only`, `error`. */
  counted_as: ReflectorOutcome
  /** The port was held by another program (the node already serving it), so no nonce could be checked. */
  port_in_use: boolean
}

/**
 * The whole `iicp-nat-probe/v1` document: the measurements plus every {@link Classification}
 * field (exposure mode, NAT type, CGNAT, direct-path states, ladder, verification, …).
 */
export interface ProbeReport extends Classification {
  /** Always {@link PROBE_SCHEMA_ID}. */
  schema: typeof PROBE_SCHEMA_ID
  /** Start time (ISO 8601). */
  started_at: string
  /** Options used. */
  inputs: ProbeInputs
  /** CGNAT detection, with the carrier hop check (TTL-limited probes: whether it ran, the hops, a 100.64/10 hop). */
  cgnat: Classification['cgnat'] & { hop_check: CarrierHopCheck }
  /** Every local address (both families, loopback included) with the reason it was or was not used. */
  local_addresses: ProbeAddressEntry[]
  /** IPv4 facts. */
  ipv4: ProbeIpv4
  /** RFC 5780 NAT behaviour. */
  nat_behavior: ProbeNatBehavior
  /** UPnP-IGD / NAT-PMP. */
  port_mapping: ProbePortMapping
  /** IPv6. */
  ipv6: ProbeIpv6
  /** Dial-back results. */
  reachability_checks: ProbeReachabilityCheck[]
  /**
   * CLI exit code this result maps to: 0 verified direct, 1 fallback needed, 2 inconclusive (also
   * when offline, DNS fails, or the port is held by another program), 3 the probe failed to clean
   * up (a mapping or pinhole it made could not be deleted: see `errors`).
   */
  exit_code: 0 | 1 | 2 | 3
  /** What the upstream SDKs would report (spec §1.3 in both variants). */
  compat: CompatBlock
  /** Errors: a mapping or pinhole left behind (with the command that removes it), offline or no DNS, failed interface scans. */
  errors: string[]
  /** Wall time of the probe. */
  duration_ms: number
}
