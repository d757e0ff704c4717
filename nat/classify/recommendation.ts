/**
 * Operator guidance for a classification (the `recommendation` text): what the mode means for
 * this node, what to do next, and the caveats (weak dial-backs, symmetric NAT, blocked UDP).
 */
import { describeRange } from '../net/addr.ts'
import type { CgnatEvidence, ClassifyInput, ExposureMode, NatType, ReflectorOutcome, TransportMethod } from './types.ts'

/** What {@link recommendationFor} words its guidance from (classification's results and inputs). */
export interface RecommendationFacts {
  mode: ExposureMode
  verified: boolean
  endpoint: string | null
  input: ClassifyInput
  natType: NatType
  evidence: CgnatEvidence[]
  ladder: TransportMethod[]
  /** Counted outcome of each family's dial-back success (IPv4, IPv6); `reachable` when there was none. */
  weak: [ReflectorOutcome, ReflectorOutcome]
  /** Each family (IPv4, IPv6) had a direct-path claim (public interface address, mapping, pinhole). */
  claims?: [boolean, boolean]
}

const FAMILIES = ['IPv4', 'IPv6'] as const

/** The sentences on dial-backs that prove less than they seem: local-only successes and failures too few reflectors agree on. */
function dialbackCaveats (input: ClassifyInput, weak: [ReflectorOutcome, ReflectorOutcome], claims: [boolean, boolean]): string[] {
  const parts: string[] = []
  const fams = [input.ipv4, input.ipv6] as const
  fams.forEach((f, i) => {
    if (weak[i] === 'local_only') {
      parts.push(`The ${FAMILIES[i]} dial-back reached ${f.reflectorObserved ?? '?'} (${describeRange(f.reflectorObserved)}), a non-global address: the reflector sits inside your network, so this proves local reachability only; use a reflector on the internet.`)
    }
    if (f.reflector === 'unconfirmed') {
      const why = (f.reflectorFailures ?? []).join('; ')
      parts.push(`The ${FAMILIES[i]} dial-back failed (${why === '' ? 'no reason given' : why}), but a reflector that cannot dial out fails the same way, and fewer than two reflectors agree${claims[i] ? ': reachability is inconclusive' : ''}; give two or more --reflector URLs to settle it.`)
    }
  })
  return parts
}

/** Words the guidance for one classification. */
export function recommendationFor ({ mode, verified, endpoint, input, natType, evidence, ladder, weak, claims = [false, false] }: RecommendationFacts): string {
  const parts: string[] = []
  const reflectorGiven = input.ipv4.reflector !== 'not_run' || input.ipv6.reflector !== 'not_run'
  const unverified = reflectorGiven
    ? 'claimed but not verified by the reflectors given'
    : 'claimed but not verified: run again with --reflector URL to have it dialled back'
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
        ? `No inbound path yet; the router offers port mapping (${input.ipv4.gatewayProtocol ?? ''}): run with ${reflectorGiven ? '--map' : '--map --reflector URL'} to create and verify it, else use a tunnel or relay.`
        : `No inbound path found: use a tunnel or relay (or forward the port on the router${reflectorGiven ? ' and probe again' : ' and verify with --reflector'}).`)
      break
  }
  const explained = weak.map((o, i) => o === 'unreachable' ? `IPv${i === 0 ? 4 : 6}` : undefined).filter(x => x !== undefined)
  const unsure = weak.map((o, i) => o === 'inconclusive' ? `IPv${i === 0 ? 4 : 6}` : undefined).filter(x => x !== undefined)
  if (explained.length > 0) parts.push(`The ${explained.join(' and ')} dial-back came from an address this host had contacted, which the address-dependent NAT filter admits; other hosts cannot connect.`)
  if (unsure.length > 0) parts.push(`The ${unsure.join(' and ')} dial-back came from an address this host had contacted and the filtering is unknown, so it does not verify reachability from other hosts: use a reflector that dials back from a separate address (dialFrom).`)
  if (input.portInUse === true) parts.push(`Port ${input.port} is in use by another program: a dial-back reaching it cannot be checked for the nonce, so it verifies nothing; stop that program or probe another --port.`)
  parts.push(...dialbackCaveats(input, weak, claims))
  if (natType === 'symmetric') parts.push('The NAT is symmetric: UDP hole punching will not work.')
  if (input.nat?.udpBlocked === true) parts.push('Outbound UDP to the STUN servers is blocked.')
  return parts.join(' ')
}
