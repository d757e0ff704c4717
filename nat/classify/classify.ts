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
import { recommendationFor } from './recommendation.ts'
import type { CgnatEvidence, Classification, ClassifyInput, DirectState, ExposureMode, NatType, ReflectorOutcome, TransportMethod } from './types.ts'

export type { CgnatEvidence, Classification, ClassifyInput, DirectState, ExposureMode, NatType, ReflectorOutcome, TransportMethod } from './types.ts'

/** All exposure modes, in the spec's order. */
export const EXPOSURE_MODES: readonly ExposureMode[] = [
  'outbound_only', 'ipv4_public_direct', 'ipv4_cgnat_blocked', 'ipv6_direct_firewall_required',
  'ipv6_direct_pinhole_available', 'relay_required', 'tunnel_required', 'dual_stack_available'
]

/** Modes that mean "directly reachable". */
export const DIRECT_MODES: readonly ExposureMode[] = ['ipv4_public_direct', 'dual_stack_available', 'ipv6_direct_pinhole_available']

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
  const hop = input.ipv4.carrierHop
  if (hop !== undefined && tryParseIp(hop.address)?.range === 'carrierGradeNat') {
    out.push({ code: 'carrier_hop_cgnat', detail: `hop ${hop.ttl} on the path, ${hop.address}, is in 100.64.0.0/10 (a carrier-grade NAT upstream)` })
  }
  return out
}

/**
 * How much a dial-back success proves. A dial-back from an address this host had just contacted
 * also passes an address-restricted (restricted-cone) filter, so it counts fully only when the
 * path is endpoint-independent by construction (router mapping, pinhole) or the measured
 * filtering is endpoint-independent; with measured address-dependent filtering it is explained
 * away (`unreachable`), otherwise it is `inconclusive`. A failure that fewer than two reflectors
 * agree on (`unconfirmed`) counts as `inconclusive`: it refutes nothing.
 */
export function effectiveReflectorOutcome (raw: ReflectorOutcome, fromContacted: boolean, endpointIndependentPath: boolean, filtering: NatBehavior | undefined): ReflectorOutcome {
  if (raw === 'unconfirmed') return 'inconclusive'
  if (raw !== 'reachable' || !fromContacted || endpointIndependentPath) return raw
  if (filtering === 'endpoint_independent') return 'reachable'
  if (filtering === 'address_dependent') return 'unreachable'
  return 'inconclusive'
}

/**
 * A success only verifies reachability from the internet when the reflector dialed a global
 * unicast address; a private, loopback, CGNAT, link-local or documentation address means the
 * reflector sits inside the local network (`local_only`).
 */
export function globalOutcome (raw: ReflectorOutcome, counted: ReflectorOutcome, observed: string | undefined): ReflectorOutcome {
  if ((raw !== 'reachable' && raw !== 'inconclusive') || (counted !== 'reachable' && counted !== 'inconclusive')) return counted
  const ip = tryParseIp(observed)
  return ip === undefined || ip.range === 'global' ? counted : 'local_only'
}

function stateOf (raw: ReflectorOutcome, counted: ReflectorOutcome, claimed: boolean): DirectState {
  if (counted === 'reachable') return 'verified'
  if (counted === 'unreachable') return 'refuted'
  // A weak dial-back success is positive evidence: it counts as a claim, never as verified. An
  // unconfirmed failure or a local-only success neither makes nor refutes a claim.
  return claimed || (counted === 'inconclusive' && raw !== 'unconfirmed') ? 'claimed' : 'none'
}

/** An observed address that may be advertised: global unicast only. */
function globalOnly (ip: string | undefined): string | undefined {
  return tryParseIp(ip)?.range === 'global' ? ip : undefined
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
  const v4Outcome = globalOutcome(v4.reflector, effectiveReflectorOutcome(v4.reflector, v4.reflectorFromContacted === true, v4.mapping !== undefined, v4Filtering), v4.reflectorObserved)
  const v4State: DirectState = v4.enabled ? stateOf(v4.reflector, v4Outcome, ifaceIp !== undefined || mappingClaim) : 'none'
  const v4Ok = v4State === 'verified' || v4State === 'claimed'

  const v6Routable = v6.enabled && v6.globalAddresses.length > 0
  const v6Outcome = globalOutcome(v6.reflector, effectiveReflectorOutcome(v6.reflector, v6.reflectorFromContacted === true, v6.pinhole !== undefined, undefined), v6.reflectorObserved)
  const v6State: DirectState = v6.enabled ? stateOf(v6.reflector, v6Outcome, v6Routable && v6.pinhole !== undefined) : 'none'
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
    const ip = mappedViaRouter ? (v4.mapping?.externalIp ?? v4.gatewayWanIp ?? globalOnly(v4.reflectorObserved)) : (ifaceIp ?? globalOnly(v4.reflectorObserved))
    const port = mappedViaRouter ? (v4.mapping?.externalPort ?? input.port) : input.port
    if (ip !== undefined) endpoint = `http://${formatHostPort(ip, port)}`
  } else if (direct && v6Ok) {
    const ip = v6.pinhole?.address ?? globalOnly(v6.reflectorObserved) ?? v6.stableAddresses[0] ?? v6.globalAddresses[0]
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
      weak: [v4.reflector === 'reachable' ? v4Outcome : 'reachable', v6.reflector === 'reachable' ? v6Outcome : 'reachable'],
      claims: [ifaceIp !== undefined || mappingClaim, v6Routable && v6.pinhole !== undefined]
    })
  }
}

/**
 * CLI exit code for a classification (spec §4.5): 0 verified direct, 2 direct but not verified
 * (a claim that no reflector confirmed or refuted is inconclusive), 1 otherwise.
 */
export function exitCodeFor (c: Pick<Classification, 'exposure_mode' | 'verification'>): 0 | 1 | 2 {
  if (!DIRECT_MODES.includes(c.exposure_mode)) return 1
  return c.verification === 'verified' ? 0 : 2
}
