/**
 * Upstream compatibility: what the Rust and Python IICP SDKs would report for the same
 * network (spec §1.2-1.4, §2.4, §4.1-4.2), so probe output can be compared with them.
 *
 * {@link upstreamProfile} replays the SDKs' `detect_nat` order over our measurements and
 * {@link qualifyProfile} applies their `qualify_service` decision table, defects included
 * (IPv6 endpoints parsed as `[2a00`, the Rust final fallback, a Quick Tunnel becoming
 * `relay_required`, a relay-bound node keeping a stale mode); nat/classify/classify.ts is the
 * corrected classification. Pure functions; no I/O.
 */
import { isPublicIPv4 } from '../net/addr.ts'
import type { ClassifyInput, ExposureMode } from './types.ts'

/** Which decision table to apply. */
export type QualifyVariant = 'rust' | 'python'

/** Upstream `transport_method` values a profile can carry. */
export type UpstreamTransportMethod = 'direct' | 'upnp_mapped' | 'stun_hole_punch' | 'turn_relay' | 'external_tunnel' | 'unreachable'

/** The upstream IPv6 sub-profile (spec §4.1). */
export interface UpstreamIpv6Profile {
  global_v6_available: boolean
  stable_v6_available: boolean
  addresses: string[]
  listener_v6_ok: boolean
  external_v6_reachable: boolean
  pinhole_active: boolean
  pinhole_unique_id: number | null
  pinhole_lease_seconds: number | null
  pinhole_inbound_allowed: boolean | null
  error: string | null
}

/** The upstream NatProfile (spec §4.1). */
export interface UpstreamNatProfile {
  /** 0 direct … 4 unreachable. */
  tier: 0 | 1 | 2 | 3 | 4
  transport_method: UpstreamTransportMethod
  public_endpoint: string | null
  transport_endpoint: string | null
  internal_endpoint: string
  operator_guidance: string | null
  detection_log: string[]
  ipv6: UpstreamIpv6Profile | null
}

/** The upstream ServiceQualification (spec §4.2). */
export interface ServiceQualification {
  exposure_mode: ExposureMode
  ipv4: { public_ip: string | null, cgnat: boolean, upnp_mapped: boolean }
  ipv6: { routable: boolean, pinhole_ok: boolean, address: string | null }
  exposure: { public_endpoint: string | null, transport_endpoint: string | null }
  recommendation: string
}

/** One SDK's view: the profile its detector would build and the qualification of it. */
export interface CompatView {
  nat_profile: UpstreamNatProfile
  qualification: ServiceQualification
}

/** The `compat` block of the probe output. */
export interface CompatBlock {
  /** What the Rust SDK (iicp-client-rust) would report. */
  rust: CompatView
  /** What the Python SDK (iicp-client-python) would report. */
  python: CompatView
  /** Notes on how the replay approximates the SDKs. */
  notes: string[]
}

const RECOMMENDATION: Record<ExposureMode, string> = {
  outbound_only: 'No inbound connectivity found: set a public endpoint manually or serve through a relay.',
  ipv4_public_direct: 'Directly reachable over IPv4; nothing else to do.',
  ipv4_cgnat_blocked: 'Carrier-grade NAT detected; a relay is the recommended path.',
  ipv6_direct_firewall_required: 'A routable IPv6 address is advertised but the router firewall probably blocks it: open the port.',
  ipv6_direct_pinhole_available: 'Reachable over IPv6 through a firewall pinhole; IPv4 is not reachable.',
  relay_required: 'Behind CGNAT or a strict firewall: serve through a relay (--relay-worker-endpoint).',
  tunnel_required: 'An external tunnel (ngrok, Tailscale, cloudflared) provides the public endpoint.',
  dual_stack_available: 'Reachable over both IPv4 and IPv6.'
}

const CGNAT_KEYWORDS = ['cgnat', 'ds-lite', 'carrier-grade']

/** The upstream regex host extraction: `http(s)://` up to `:` or `/` (yields `[2a00` for IPv6). */
function upstreamHost (endpoint: string | null): string | null {
  if (endpoint === null) return null
  const m = /^https?:\/\/([^:/]+)/.exec(endpoint)
  return m?.[1] ?? null
}

/** Applies the upstream decision table (spec §1.3; first match wins) in the `rust` or `python` variant. */
export function qualifyProfile (profile: UpstreamNatProfile, variant: QualifyVariant): ServiceQualification {
  const endpoint = profile.public_endpoint
  const host = upstreamHost(endpoint)
  const cgnat = profile.detection_log.some(l => CGNAT_KEYWORDS.some(k => l.toLowerCase().includes(k)))
  const v6 = profile.ipv6
  const routable = variant === 'rust' ? (v6?.addresses.length ?? 0) > 0 : v6?.global_v6_available === true
  const pinholeOk = v6?.pinhole_active === true
  const ipv4Ok = endpoint !== null && !endpoint.includes('[')
  let mode: ExposureMode
  if (profile.tier === 3) mode = 'relay_required'
  else if (profile.tier === 2 || profile.transport_method === 'external_tunnel') mode = 'tunnel_required'
  else if (profile.tier === 4 || endpoint === null) mode = cgnat ? 'ipv4_cgnat_blocked' : 'outbound_only'
  else if (ipv4Ok && routable && pinholeOk) mode = 'dual_stack_available'
  else if (!ipv4Ok && routable) mode = pinholeOk ? 'ipv6_direct_pinhole_available' : 'ipv6_direct_firewall_required'
  else if (variant === 'rust') mode = 'ipv4_public_direct'
  else mode = ipv4Ok ? 'ipv4_public_direct' : 'outbound_only'
  const recommendation = profile.operator_guidance === null ? RECOMMENDATION[mode] : `${RECOMMENDATION[mode]} ${profile.operator_guidance}`
  return {
    exposure_mode: mode,
    ipv4: { public_ip: host, cgnat, upnp_mapped: profile.transport_method === 'upnp_mapped' },
    ipv6: { routable, pinhole_ok: pinholeOk, address: v6?.addresses[0] ?? null },
    exposure: { public_endpoint: endpoint, transport_endpoint: profile.transport_endpoint },
    recommendation
  }
}

function ipv6Profile (input: ClassifyInput, pinholeActive: boolean): UpstreamIpv6Profile | null {
  if (!input.ipv6.enabled) return null
  const addrs = input.ipv6.globalAddresses
  return {
    global_v6_available: addrs.length > 0,
    stable_v6_available: input.ipv6.stableAddresses.length > 0,
    addresses: addrs,
    listener_v6_ok: addrs.length > 0,
    external_v6_reachable: addrs.length > 0,
    pinhole_active: pinholeActive,
    pinhole_unique_id: input.ipv6.pinhole?.uniqueId ?? null,
    pinhole_lease_seconds: input.ipv6.pinhole?.leaseSeconds ?? null,
    pinhole_inbound_allowed: input.ipv6.pinholeAllowed ?? null,
    error: null
  }
}

/**
 * Replays the SDKs' `detect_nat` over our measurements (no operator endpoint; Linux host).
 * Upstream has no NAT-PMP, no STUN and no PTR lookups here; see {@link CompatBlock.notes}.
 */
export function upstreamProfile (input: ClassifyInput, variant: QualifyVariant): UpstreamNatProfile {
  const port = input.port
  const log: string[] = []
  const internal = `http://0.0.0.0:${port}`
  const base = { transport_endpoint: null, internal_endpoint: internal, operator_guidance: null, detection_log: log }
  const v6 = input.ipv6.enabled ? input.ipv6.globalAddresses : []
  const pinholeWouldWork = input.ipv6.pinhole !== undefined || input.ipv6.pinholeAllowed === true
  const iface = input.ipv4.enabled ? input.ipv4.publicOnInterface[0] : undefined
  if (iface !== undefined) {
    log.push(`tier-0: public IPv4 ${iface} on a local interface`)
    return { ...base, tier: 0, transport_method: 'direct', public_endpoint: `http://${iface}:${port}`, ipv6: variant === 'python' ? ipv6Profile(input, false) : null }
  }
  if (variant === 'python' && v6.length > 0) {
    const pick = input.ipv6.stableAddresses[0] ?? v6[0] ?? ''
    log.push(`tier-0: IPv6 ${pick} (stable) with a working v6 listener`)
    return { ...base, tier: 0, transport_method: 'direct', public_endpoint: `http://[${pick}]:${port}`, ipv6: ipv6Profile(input, false) }
  }
  const upnpWan = input.ipv4.enabled && input.ipv4.gatewayProtocol === 'upnp-igd' && input.ipv4.mappingFailed !== true ? input.ipv4.gatewayWanIp : undefined
  const echoIp = input.nat?.mappedAddress !== undefined && isPublicIPv4(input.nat.mappedAddress) ? input.nat.mappedAddress : undefined
  if (upnpWan !== undefined) {
    const wan = upnpWan === '' || upnpWan === '0.0.0.0' ? echoIp : upnpWan
    if (wan === undefined) {
      log.push('tier-4: UPnP mapped but the IGD reported no WAN IP')
      return { ...base, tier: 4, transport_method: 'unreachable', public_endpoint: null, operator_guidance: 'The router did not report a WAN address.', ipv6: null }
    }
    const ext = input.ipv4.mapping?.externalPort ?? port
    log.push(`tier-1: UPnP mapped ${port} -> ${wan}:${ext}`)
    return { ...base, tier: 1, transport_method: 'upnp_mapped', public_endpoint: `http://${wan}:${ext}`, ipv6: null }
  }
  log.push(input.ipv4.gatewayProtocol === 'upnp-igd' ? 'tier-1: IGD found but mapping refused' : 'tier-1: no IGD found')
  if (variant === 'python' && echoIp !== undefined) {
    log.push(`tier-1-fallback: probe reported WAN ${echoIp}; reachability deferred to the directory`)
    return { ...base, tier: 1, transport_method: 'external_tunnel', public_endpoint: `http://${echoIp}:${port}`, operator_guidance: 'Forward the port on your router.', ipv6: null }
  }
  if (v6.length > 0) {
    const addr = v6[0] ?? ''
    log.push(`tier-1-ipv6: fallback to [${addr}]`)
    return { ...base, tier: 1, transport_method: 'direct', public_endpoint: `http://[${addr}]:${port}`, ipv6: ipv6Profile(input, pinholeWouldWork) }
  }
  if (input.tunnelUrl !== undefined) {
    log.push(`tier-1: external tunnel ${input.tunnelUrl}`)
    return { ...base, tier: 1, transport_method: 'external_tunnel', public_endpoint: input.tunnelUrl, ipv6: null }
  }
  log.push('tier-4: no inbound path found')
  return { ...base, tier: 4, transport_method: 'unreachable', public_endpoint: null, operator_guidance: 'Forward the port, set a public endpoint, or run a tunnel and export IICP_TUNNEL_URL.', ipv6: null }
}

/** Builds the probe's `compat` block. */
export function compatBlock (input: ClassifyInput): CompatBlock {
  const view = (variant: 'rust' | 'python'): CompatView => {
    const nat_profile = upstreamProfile(input, variant)
    return { nat_profile, qualification: qualifyProfile(nat_profile, variant) }
  }
  return {
    rust: view('rust'),
    python: view('python'),
    notes: [
      'Replay of upstream detect_nat over this probe\'s measurements (Linux host, no operator endpoint).',
      'Read-only probes assume upstream\'s UPnP AddPortMapping would succeed wherever an IGD reported a WAN address.',
      'Upstream has no NAT-PMP or STUN; the STUN-mapped address stands in for the CLIs\' default echo-IP probe. No PTR lookup is made, so the upstream CGNAT keyword never fires here.'
    ]
  }
}
