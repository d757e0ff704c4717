/**
 * Measurement-based classification (spec §1.6, §2.1-2.2): exposure mode, NAT type, CGNAT and
 * double-NAT evidence, the recommended transport method and fallback ladder, and whether the
 * result was verified by a dial-back reflector. Pure functions; no I/O.
 *
 * Only a reflector-verified inbound test makes a direct mode `verified`; a direct path that is
 * merely claimed (public address on an interface, a router mapping, a pinhole) is reported as
 * `self_attested`, and a reflector "unreachable" refutes the claim.
 */
import { formatHostPort } from '../../src/host-port.ts'
import { sameIp, tryParseIp } from '../net/addr.ts'
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

/** All exposure modes, in the spec's order. */
export const EXPOSURE_MODES: readonly ExposureMode[] = [
  'outbound_only', 'ipv4_public_direct', 'ipv4_cgnat_blocked', 'ipv6_direct_firewall_required',
  'ipv6_direct_pinhole_available', 'relay_required', 'tunnel_required', 'dual_stack_available'
]

/** Modes that mean "directly reachable". */
export const DIRECT_MODES: readonly ExposureMode[] = ['ipv4_public_direct', 'dual_stack_available', 'ipv6_direct_pinhole_available']

/** IICP `nat_type` (spec §2.2; `direct` = no NAT). */
export type NatType = 'direct' | 'full_cone' | 'restricted_cone' | 'port_restricted' | 'symmetric' | 'unknown'

/** IICP `transport_method` values a node can be advised to use. */
export type TransportMethod = 'direct' | 'upnp_mapped' | 'stun_hole_punch' | 'turn_relay' | 'external_tunnel'

/**
 * Outcome of the dial-back check for one address family. `inconclusive`: the nonce arrived,
 * but from an address this host had contacted while the filtering behaviour is unknown, so an
 * address-restricted filter could explain it.
 */
export type ReflectorOutcome = 'reachable' | 'unreachable' | 'inconclusive' | 'error' | 'not_run'

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
  }
}

/** One piece of CGNAT / double-NAT evidence. */
export interface CgnatEvidence {
  /** Stable code. */
  code: 'gateway_wan_cgnat' | 'gateway_wan_private' | 'gateway_wan_not_public' | 'gateway_no_public_wan' | 'stun_gateway_mismatch' | 'stun_mapped_cgnat'
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
  /** `verified` only when a reflector confirmed every direct path the mode relies on. */
  verification: 'verified' | 'self_attested'
  /** Endpoint to advertise when direct (verified or claimed), else null. */
  advertised_endpoint: string | null
  /** Operator guidance. */
  recommendation: string
}

/** NAT type from RFC 4787 mapping and filtering behaviour (spec §2.2). */
export function natTypeFrom (nat: ClassifyInput['nat']): NatType {
  if (nat === undefined || nat.udpBlocked) return 'unknown'
  if (nat.mapping === 'none') return 'direct'
  if (nat.mapping === 'address_dependent' || nat.mapping === 'address_and_port_dependent') return 'symmetric'
  if (nat.mapping !== 'endpoint_independent') return 'unknown'
  switch (nat.filtering) {
    case 'endpoint_independent': return 'full_cone'
    case 'address_dependent': return 'restricted_cone'
    case 'address_and_port_dependent': return 'port_restricted'
    case 'none':
    case 'unknown':
      return 'unknown'
  }
}

/** CGNAT and double-NAT evidence from the router's WAN address and the STUN-mapped address. */
export function cgnatEvidence (input: ClassifyInput): CgnatEvidence[] {
  const out: CgnatEvidence[] = []
  if (!input.ipv4.enabled) return out
  const wan = tryParseIp(input.ipv4.gatewayWanIp)
  const mapped = tryParseIp(input.nat?.mappedAddress)
  const via = input.ipv4.gatewayProtocol === 'nat-pmp' ? 'NAT-PMP' : 'IGD'
  if (wan?.family === 4) {
    if (wan.range === 'carrierGradeNat') out.push({ code: 'gateway_wan_cgnat', detail: `${via} WAN ${wan.address} is in 100.64.0.0/10 (carrier-grade NAT)` })
    else if (wan.range === 'private') out.push({ code: 'gateway_wan_private', detail: `${via} WAN ${wan.address} is RFC 1918 private (double NAT)` })
    else if (wan.range !== 'global') out.push({ code: 'gateway_wan_not_public', detail: `${via} WAN ${wan.address} is not public (${wan.range})` })
    else if (mapped?.family === 4 && mapped.address !== wan.address) {
      out.push({ code: 'stun_gateway_mismatch', detail: `STUN sees ${mapped.address} but the ${via} reports WAN ${wan.address}: another NAT is upstream` })
    }
  }
  // A router that answers but has no public WAN address while we demonstrably reach the
  // internet sits behind another NAT (miniupnpd withholds a private or 100.64/10 WAN address;
  // NAT-PMP says "network failure").
  const online = (mapped?.family === 4 && mapped.range === 'global') || tryParseIp(input.ipv4.reflectorObserved)?.range === 'global'
  if (wan === undefined && online) {
    for (const g of input.ipv4.gatewayWithoutPublicWan ?? []) out.push({ code: 'gateway_no_public_wan', detail: `${g.detail}, yet this host reaches the internet as ${mapped?.address ?? input.ipv4.reflectorObserved ?? '?'}` })
  }
  if (mapped?.family === 4 && mapped.range === 'carrierGradeNat') out.push({ code: 'stun_mapped_cgnat', detail: `STUN-mapped address ${mapped.address} is in 100.64.0.0/10` })
  return out
}

/**
 * How much a dial-back success proves. A dial-back from an address this host had just contacted
 * also passes an address-restricted (restricted-cone) filter, so it counts fully only when the
 * path is endpoint-independent by construction (router mapping, pinhole) or the measured
 * filtering is endpoint-independent; with measured address-dependent filtering it is explained
 * away (`unreachable`), otherwise it is `inconclusive`.
 */
export function effectiveReflectorOutcome (raw: ReflectorOutcome, fromContacted: boolean, endpointIndependentPath: boolean, filtering: NatBehavior | undefined): ReflectorOutcome {
  if (raw !== 'reachable' || !fromContacted || endpointIndependentPath) return raw
  if (filtering === 'endpoint_independent') return 'reachable'
  if (filtering === 'address_dependent') return 'unreachable'
  return 'inconclusive'
}

function stateOf (outcome: ReflectorOutcome, claimed: boolean): DirectState {
  if (outcome === 'reachable') return 'verified'
  if (outcome === 'unreachable') return 'refuted'
  // A weak dial-back success is positive evidence: it counts as a claim, never as verified.
  return claimed || outcome === 'inconclusive' ? 'claimed' : 'none'
}

const CONE: readonly NatType[] = ['full_cone', 'restricted_cone', 'port_restricted']

/**
 * Classifies a probe's measurements (spec §1.6 rules, first match wins).
 *
 * @example
 * ```ts
 * const c = classify({ port: 9484, ipv4: { enabled: true, publicOnInterface: [], reflector: 'not_run' },
 *   nat: { udpBlocked: false, mapping: 'address_and_port_dependent', filtering: 'address_and_port_dependent' },
 *   ipv6: { enabled: false, globalAddresses: [], stableAddresses: [], reflector: 'not_run' } })
 * c.nat_type // 'symmetric'; c.ladder // ['external_tunnel', 'turn_relay']
 * ```
 */
export function classify (input: ClassifyInput): Classification {
  const natType = natTypeFrom(input.nat)
  const evidence = cgnatEvidence(input)
  const doubleNat = evidence.some(e => e.code !== 'stun_mapped_cgnat')
  const v4 = input.ipv4
  const v6 = input.ipv6
  const nat = input.nat

  // IPv4 claims: a public interface address that STUN does not contradict, or a mapping on a
  // router whose WAN is public with no CGNAT evidence.
  const ifaceIp = v4.publicOnInterface.find(ip => nat === undefined || nat.udpBlocked || nat.mapping === 'none' || sameIp(nat.mappedAddress, ip))
  const mappingIp = v4.mapping?.externalIp ?? v4.gatewayWanIp
  const mappingClaim = v4.mapping !== undefined && tryParseIp(mappingIp)?.range === 'global' && evidence.length === 0
  const v4Filtering = nat !== undefined && !nat.udpBlocked ? nat.filtering : undefined
  const v4Outcome = effectiveReflectorOutcome(v4.reflector, v4.reflectorFromContacted === true, v4.mapping !== undefined, v4Filtering)
  const v4State: DirectState = v4.enabled ? stateOf(v4Outcome, ifaceIp !== undefined || mappingClaim) : 'none'
  const v4Ok = v4State === 'verified' || v4State === 'claimed'

  const v6Routable = v6.enabled && v6.globalAddresses.length > 0
  const v6Outcome = effectiveReflectorOutcome(v6.reflector, v6.reflectorFromContacted === true, v6.pinhole !== undefined, undefined)
  const v6State: DirectState = v6.enabled ? stateOf(v6Outcome, v6Routable && v6.pinhole !== undefined) : 'none'
  const v6Ok = v6State === 'verified' || v6State === 'claimed'

  let mode: ExposureMode
  if (input.relayEndpoint !== undefined) mode = 'relay_required'
  else if (input.tunnelUrl !== undefined) mode = 'tunnel_required'
  else if (v4Ok && v6Ok) mode = 'dual_stack_available'
  else if (v4Ok) mode = 'ipv4_public_direct'
  else if (v6Ok) mode = 'ipv6_direct_pinhole_available'
  else if (v6Routable) mode = 'ipv6_direct_firewall_required'
  else if (evidence.length > 0) mode = 'ipv4_cgnat_blocked'
  else mode = 'outbound_only'

  const direct = DIRECT_MODES.includes(mode)
  const verified = direct &&
    (mode === 'ipv6_direct_pinhole_available' || v4State === 'verified') &&
    (mode === 'ipv4_public_direct' || v6State === 'verified')

  // Endpoint: prefer what the reflector saw, then the mapping, then the interface address.
  const mappedViaRouter = v4Ok && v4.mapping !== undefined && (mappingClaim || v4State === 'verified')
  let endpoint: string | null = null
  if (direct && v4Ok) {
    const ip = mappedViaRouter ? (v4.mapping?.externalIp ?? v4.gatewayWanIp ?? v4.reflectorObserved) : (ifaceIp ?? v4.reflectorObserved)
    const port = mappedViaRouter ? (v4.mapping?.externalPort ?? input.port) : input.port
    if (ip !== undefined) endpoint = `http://${formatHostPort(ip, port)}`
  } else if (direct && v6Ok) {
    const ip = v6.pinhole?.address ?? v6.reflectorObserved ?? v6.stableAddresses[0] ?? v6.globalAddresses[0]
    if (ip !== undefined) endpoint = `http://${formatHostPort(ip, input.port)}`
  }

  const ladder: TransportMethod[] = []
  if (input.relayEndpoint !== undefined) ladder.push('turn_relay', 'external_tunnel')
  else if (input.tunnelUrl !== undefined) ladder.push('external_tunnel', 'turn_relay')
  else {
    if (v4Ok) ladder.push(mappedViaRouter ? 'upnp_mapped' : 'direct')
    if (v6Ok && !ladder.includes('direct')) ladder.push('direct')
    const mappable = !v4Ok && v4.enabled && v4.gatewayProtocol !== undefined && v4.mapping === undefined && v4.mappingFailed !== true &&
      tryParseIp(v4.gatewayWanIp)?.range === 'global' && evidence.length === 0
    if (mappable) ladder.push('upnp_mapped')
    if (!v4Ok && CONE.includes(natType)) ladder.push('stun_hole_punch')
    ladder.push('external_tunnel', 'turn_relay')
  }
  const recommended = ladder.find(m => m !== 'stun_hole_punch') ?? 'turn_relay'

  return {
    exposure_mode: mode,
    nat_type: natType,
    cgnat: { detected: evidence.length > 0, evidence },
    double_nat: doubleNat,
    ipv4_direct: v4State,
    ipv6_direct: v6State,
    reflector_outcome: { ipv4: v4Outcome, ipv6: v6Outcome },
    recommended_transport_method: recommended,
    ladder,
    verification: verified ? 'verified' : 'self_attested',
    advertised_endpoint: endpoint,
    recommendation: recommendationFor({
      mode, verified, endpoint, input, natType, evidence, ladder,
      weak: [v4.reflector === 'reachable' ? v4Outcome : 'reachable', v6.reflector === 'reachable' ? v6Outcome : 'reachable']
    })
  }
}

/** What {@link recommendationFor} words its guidance from. */
interface RecommendationFacts {
  mode: ExposureMode
  verified: boolean
  endpoint: string | null
  input: ClassifyInput
  natType: NatType
  evidence: CgnatEvidence[]
  ladder: TransportMethod[]
  /** Counted outcome of each family's dial-back success (IPv4, IPv6); `reachable` when there was none. */
  weak: [ReflectorOutcome, ReflectorOutcome]
}

function recommendationFor ({ mode, verified, endpoint, input, natType, evidence, ladder, weak }: RecommendationFacts): string {
  const parts: string[] = []
  const unverified = 'claimed but not verified: run again with --reflector URL to have it dialled back'
  switch (mode) {
    case 'relay_required':
      parts.push(`Serving through the relay ${input.relayEndpoint ?? ''}.`)
      break
    case 'tunnel_required':
      parts.push(`Serving through the external tunnel ${input.tunnelUrl ?? ''}.`)
      break
    case 'dual_stack_available':
      parts.push(`Directly reachable over IPv4 and IPv6 at ${endpoint ?? '?'}${verified ? ' (verified by dial-back).' : `; ${unverified}.`}`)
      break
    case 'ipv4_public_direct':
      parts.push(`Directly reachable over IPv4 at ${endpoint ?? '?'}${verified ? ' (verified by dial-back).' : `; ${unverified}.`}`)
      break
    case 'ipv6_direct_pinhole_available':
      parts.push(`Reachable over IPv6 at ${endpoint ?? '?'}${input.ipv6.pinhole === undefined ? '' : ' through a router pinhole'}; IPv4 is not reachable${verified ? ' (verified by dial-back).' : `; ${unverified}.`}`)
      break
    case 'ipv6_direct_firewall_required':
      parts.push(`Global IPv6 address ${input.ipv6.stableAddresses[0] ?? input.ipv6.globalAddresses[0] ?? ''} but no verified inbound IPv6: open TCP port ${input.port} in the router firewall (or run with --map to request a UPnP pinhole); until then use a tunnel or relay.`)
      break
    case 'ipv4_cgnat_blocked':
      parts.push(`Carrier-grade or double NAT (${evidence.map(e => e.detail).join('; ')}): a router mapping cannot make this node reachable; use a tunnel or relay.`)
      break
    case 'outbound_only':
      parts.push(ladder.includes('upnp_mapped')
        ? `No inbound path yet; the router offers port mapping (${input.ipv4.gatewayProtocol ?? ''}): run with --map --reflector URL to create and verify it, else use a tunnel or relay.`
        : 'No inbound path found: use a tunnel or relay (or forward the port on the router and verify with --reflector).')
      break
  }
  const explained = weak.map((o, i) => o === 'unreachable' ? `IPv${i === 0 ? 4 : 6}` : undefined).filter(x => x !== undefined)
  const unsure = weak.map((o, i) => o === 'inconclusive' ? `IPv${i === 0 ? 4 : 6}` : undefined).filter(x => x !== undefined)
  if (explained.length > 0) parts.push(`The ${explained.join(' and ')} dial-back came from an address this host had contacted, which the address-dependent NAT filter admits; other hosts cannot connect.`)
  if (unsure.length > 0) parts.push(`The ${unsure.join(' and ')} dial-back came from an address this host had contacted and the filtering is unknown, so it does not verify reachability from other hosts: use a reflector that dials back from a separate address (dialFrom).`)
  if (natType === 'symmetric') parts.push('The NAT is symmetric: UDP hole punching will not work.')
  if (input.nat?.udpBlocked === true) parts.push('Outbound UDP to the STUN servers is blocked.')
  return parts.join(' ')
}

/** CLI exit code for a classification (spec §4.5): 0 verified direct, 2 direct but not verified, 1 otherwise. */
export function exitCodeFor (c: Pick<Classification, 'exposure_mode' | 'verification'>): 0 | 1 | 2 {
  if (!DIRECT_MODES.includes(c.exposure_mode)) return 1
  return c.verification === 'verified' ? 0 : 2
}
