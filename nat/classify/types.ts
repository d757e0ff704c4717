/**
 * The vocabulary of classification (spec §1.6, §2.2): exposure modes, NAT types, transport
 * methods, what classification takes (the probe's measurements) and what it returns.
 */
import type { NatBehavior } from '../stun/behavior-classify.ts'

/** The eight ADR-043 exposure modes (exact upstream strings). */
export type ExposureMode =
  | 'outbound_only'
  | 'ipv4_public_direct'
  | 'ipv4_cgnat_blocked'
  | 'ipv6_direct_firewall_required'
  | 'ipv6_direct_pinhole_available'
  | 'relay_required'
  | 'tunnel_required'
  | 'dual_stack_available'

/** IICP `nat_type` (spec §2.2; `direct` = no NAT). */
export type NatType = 'direct' | 'full_cone' | 'restricted_cone' | 'port_restricted' | 'symmetric' | 'unknown'

/** IICP `transport_method` values a node can be advised to use. */
export type TransportMethod = 'direct' | 'upnp_mapped' | 'stun_hole_punch' | 'turn_relay' | 'external_tunnel'

/**
 * Outcome of the dial-back checks for one address family. Raw (what the probe measured):
 * `reachable` our nonce arrived; `unreachable` at least two reflectors answered and agree they
 * could not connect; `unconfirmed` dial-backs failed but fewer than two reflectors agree (a
 * reflector that cannot dial out looks exactly like this), so nothing is refuted; `error` no
 * reflector answered. Counted (after classification): `inconclusive` a weak success (the nonce
 * came from an address this host had contacted while the filtering is unknown) or an
 * `unconfirmed` failure; `local_only` the nonce arrived but the reflector saw a non-global
 * address, so it sits inside the local network and proves local reachability only.
 */
export type ReflectorOutcome = 'reachable' | 'unreachable' | 'unconfirmed' | 'inconclusive' | 'local_only' | 'error' | 'not_run'

/** State of one family's direct path. */
export type DirectState = 'verified' | 'claimed' | 'refuted' | 'none'

/** What the probe measured, in the shape classification needs. */
export interface ClassifyInput {
  /** Port the node serves on. */
  port: number
  /** The node is bound to a relay and advertises this relay path (rule 1). */
  relayEndpoint?: string
  /** The node advertises this external tunnel URL (rule 2). */
  tunnelUrl?: string
  /** The port was held by another program, so dial-backs could not be checked for the nonce. */
  portInUse?: boolean
  /** IPv4 facts. */
  ipv4: {
    /** IPv4 was probed. */
    enabled: boolean
    /** Public IPv4 addresses on local interfaces. */
    publicOnInterface: string[]
    /** The router's WAN address as it reports it (UPnP GetExternalIPAddress or NAT-PMP). */
    gatewayWanIp?: string
    /** Protocol of the router that reported `gatewayWanIp`. */
    gatewayProtocol?: 'upnp-igd' | 'nat-pmp'
    /** A router mapping this probe created. */
    mapping?: { externalIp?: string, externalPort: number }
    /** A mapping was attempted and refused. */
    mappingFailed?: boolean
    /** A gateway answered but reports no public WAN address (UPnP `""`, NAT-PMP result 3). */
    gatewayWithoutPublicWan?: Array<{ source: 'igd' | 'natpmp', detail: string }>
    /** Dial-back result over IPv4 (raw: `reachable` = our nonce arrived). */
    reflector: ReflectorOutcome
    /** The dial-back came from an address this host had contacted (or the reflector did not say). */
    reflectorFromContacted?: boolean
    /** Our IPv4 address as the reflector saw it. */
    reflectorObserved?: string
    /** Why the dial-backs failed, one line per reflector (for the guidance text). */
    reflectorFailures?: string[]
    /** A router in 100.64.0.0/10 on the path a few hops out (TTL-limited probes), not via an overlay. */
    carrierHop?: { ttl: number, address: string }
  }
  /** STUN results; undefined when STUN was not run. */
  nat?: {
    udpBlocked: boolean
    mapping: NatBehavior
    filtering: NatBehavior
    /** Server-reflexive (mapped) address. */
    mappedAddress?: string
  }
  /** IPv6 facts. */
  ipv6: {
    /** IPv6 was probed. */
    enabled: boolean
    /** Usable global IPv6 addresses on local interfaces. */
    globalAddresses: string[]
    /** The subset that is stable (not temporary), best first. */
    stableAddresses: string[]
    /** A pinhole this probe opened. */
    pinhole?: { address: string, uniqueId: number, leaseSeconds: number }
    /** The router's InboundPinholeAllowed, when asked. */
    pinholeAllowed?: boolean
    /** Dial-back result over IPv6 (raw). */
    reflector: ReflectorOutcome
    /** The dial-back came from an address this host had contacted (or the reflector did not say). */
    reflectorFromContacted?: boolean
    /** Our IPv6 address as the reflector saw it. */
    reflectorObserved?: string
    /** Why the dial-backs failed, one line per reflector (for the guidance text). */
    reflectorFailures?: string[]
  }
}

/** One piece of CGNAT / double-NAT evidence. */
export interface CgnatEvidence {
  /** Stable code. */
  code: 'gateway_wan_cgnat' | 'gateway_wan_private' | 'gateway_wan_not_public' | 'gateway_no_public_wan' | 'stun_gateway_mismatch' | 'stun_mapped_cgnat' | 'carrier_hop_cgnat'
  /** Human-readable detail. */
  detail: string
}

/** The classification result. */
export interface Classification {
  /** One of the eight ADR-043 modes. */
  exposure_mode: ExposureMode
  /** NAT type from mapping × filtering. */
  nat_type: NatType
  /** CGNAT detection. */
  cgnat: { detected: boolean, evidence: CgnatEvidence[] }
  /** Our router sits behind another NAT (its WAN is not public, or STUN sees another address). */
  double_nat: boolean
  /** IPv4 direct path state. */
  ipv4_direct: DirectState
  /** IPv6 direct path state. */
  ipv6_direct: DirectState
  /** How each family's dial-back result was counted (after the contacted-address check). */
  reflector_outcome: { ipv4: ReflectorOutcome, ipv6: ReflectorOutcome }
  /** First ladder rung an IICP node can use today. */
  recommended_transport_method: TransportMethod
  /** Ordered fallbacks. `stun_hole_punch` appears only for cone NATs and is never recommended (IICP's TCP/HTTP transport has no ICE signalling). */
  ladder: TransportMethod[]
  /** `verified` only when a reflector confirmed every direct path the mode relies on, at a global unicast address. */
  verification: 'verified' | 'self_attested'
  /** Endpoint to advertise when direct (verified or claimed), else null. */
  advertised_endpoint: string | null
  /** Operator guidance. */
  recommendation: string
}
