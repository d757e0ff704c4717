/**
 * The probe's last steps: turn the measurements into classifier input, classify, attach the
 * upstream-compat replay, and assemble the `iicp-nat-probe/v1` document. Pure; no I/O.
 */
import { formatHostPort } from '../../src/host-port.ts'
import { sameIp, tryParseIp } from '../net/addr.ts'
import { classify, exitCodeFor, type ClassifyInput } from '../classify/classify.ts'
import { compatBlock } from '../classify/compat.ts'
import { describeLocalAddresses } from './addresses.ts'
import type { LocalScan } from './local.ts'
import type { Measured, MeasureSettings } from './measure.ts'
import { familyOutcome, markContacted, type FamilyOutcome } from './reachability.ts'
import { PROBE_SCHEMA_ID, type ProbeIpv4, type ProbeIpv6, type ProbeReachabilityCheck, type ProbeReport, type WanIpSource } from './schema.ts'

/** Everything the report is built from. */
export interface ReportFacts {
  settings: MeasureSettings
  local: LocalScan
  measured: Measured
  /** Options as given, where the report echoes them. */
  given: { stunServers?: unknown, gateways?: string[] | undefined, interface?: string | undefined, relayEndpoint?: string | undefined, tunnelUrl?: string | undefined }
  startedAt: Date
  /** `performance.now()` at the start. */
  t0: number
}

const observed = (check: ProbeReachabilityCheck | undefined): string | undefined => check?.observed_address ?? undefined

/** The classifier's view of the measurements. */
export function classifyInputFrom (f: ReportFacts, v4: FamilyOutcome, v6: FamilyOutcome): ClassifyInput {
  const { settings, local, measured } = f
  const v4Check = v4.check
  const v6Check = v6.check
  const { stun, gateway: gw, made } = measured
  // A gateway that answered without a usable WAN address counts with WAN "" (upstream SDKs then fall back to an echo IP).
  const wan = gw.wan !== undefined
    ? { gatewayWanIp: gw.wan.ip, gatewayProtocol: gw.wan.source === 'igd' ? 'upnp-igd' as const : 'nat-pmp' as const }
    : gw.section.protocol !== null ? { gatewayWanIp: '', gatewayProtocol: gw.section.protocol } : {}
  const mapping = made.mapping !== undefined
    ? { mapping: { externalPort: made.mapping.externalPort, ...(made.mapping.externalIp === undefined ? {} : { externalIp: made.mapping.externalIp }) } }
    : made.mappingError !== undefined ? { mappingFailed: true } : {}
  const v4Observed = observed(v4Check)
  const v6Observed = observed(v6Check)
  const pinholeAllowed = gw.firewall?.inbound_pinhole_allowed ?? undefined
  return {
    port: settings.port,
    ipv4: {
      enabled: true,
      publicOnInterface: local.pub.ipv4,
      reflector: v4.outcome,
      ...(v4Check === undefined ? {} : { reflectorFromContacted: v4Check.dialback_from_contacted }),
      ...(v4.failures.length > 0 ? { reflectorFailures: v4.failures } : {}),
      ...wan,
      ...(gw.withoutWan.length > 0 ? { gatewayWithoutPublicWan: gw.withoutWan } : {}),
      ...mapping,
      ...(v4Observed === undefined ? {} : { reflectorObserved: v4Observed }),
      ...(measured.hop.carrier_hop?.address == null ? {} : { carrierHop: { ttl: measured.hop.carrier_hop.ttl, address: measured.hop.carrier_hop.address } })
    },
    ipv6: {
      enabled: settings.ipv6,
      globalAddresses: local.ranked6.map(a => a.address),
      stableAddresses: local.ranked6.filter(a => a.flags?.temporary !== true).map(a => a.address),
      reflector: v6.outcome,
      ...(v6Check === undefined ? {} : { reflectorFromContacted: v6Check.dialback_from_contacted }),
      ...(v6.failures.length > 0 ? { reflectorFailures: v6.failures } : {}),
      ...(v6Observed === undefined ? {} : { reflectorObserved: v6Observed }),
      ...(made.pinhole === undefined ? {} : { pinhole: { address: made.pinhole.internalClient, uniqueId: made.pinhole.uniqueId, leaseSeconds: made.pinhole.leaseSeconds } }),
      ...(pinholeAllowed === undefined ? {} : { pinholeAllowed })
    },
    ...(stun.input === undefined ? {} : { nat: stun.input }),
    ...(measured.checks.some(c => c.port_in_use) ? { portInUse: true } : {}),
    ...(f.given.relayEndpoint === undefined ? {} : { relayEndpoint: f.given.relayEndpoint }),
    ...(f.given.tunnelUrl === undefined ? {} : { tunnelUrl: f.given.tunnelUrl })
  }
}

function ipv4Section (f: ReportFacts, v4Check: ProbeReachabilityCheck | undefined): ProbeIpv4 {
  const { local, measured: { stun, gateway: gw } } = f
  const wanSources: WanIpSource[] = []
  if (gw.wan !== undefined) wanSources.push({ source: gw.wan.source, value: gw.wan.ip })
  const natpmpIp = tryParseIp(gw.section.natpmp?.external_ip)
  if (natpmpIp !== undefined && gw.wan?.source !== 'natpmp') wanSources.push({ source: 'natpmp', value: natpmpIp.address })
  if (stun.input?.mappedAddress !== undefined) wanSources.push({ source: 'stun', value: stun.input.mappedAddress })
  const v4Observed = observed(v4Check)
  if (v4Observed !== undefined) wanSources.push({ source: 'reflector', value: v4Observed })
  for (const ip of local.pub.ipv4) wanSources.push({ source: 'interface', value: ip })
  const best = wanSources.find(s => s.source === 'stun') ?? wanSources.find(s => s.source === 'reflector') ?? wanSources[0]
  const outside = wanSources.filter(s => s.source !== 'interface')
  return {
    local_addresses: local.locals.filter(a => a.family === 4 && !a.internal).map(a => ({ interface: a.interface, address: a.address, prefix_length: a.prefixLength, range: a.range })),
    public_on_interface: local.pub.ipv4,
    wan_ip: { value: best?.value ?? null, sources: wanSources, consistent: outside.every(s => sameIp(s.value, outside[0]?.value)) }
  }
}

function ipv6Section (f: ReportFacts, input: ClassifyInput, v6Check: ProbeReachabilityCheck | undefined): ProbeIpv6 {
  const { settings: { ipv6, keep }, local: { locals, ranked6, listenerV6 }, measured: { gateway: gw, made, pinhole } } = f
  return {
    enabled: ipv6,
    global_v6_available: ranked6.length > 0,
    stable_v6_available: input.ipv6.stableAddresses.length > 0,
    addresses: ranked6.map(a => a.address),
    address_details: ipv6
      ? locals.filter(a => a.family === 6 && a.range === 'global').map(a => ({
        interface: a.interface, address: a.address, prefix_length: a.prefixLength,
        temporary: a.flags?.temporary ?? null, deprecated: a.flags?.deprecated ?? null, permanent: a.flags?.permanent ?? null,
        stable_privacy: a.flags?.stablePrivacy ?? null, eui64: a.eui64 === true
      }))
      : [],
    listener_v6_ok: listenerV6,
    external_v6_reachable: v6Check === undefined ? null : v6Check.reflector_reachable !== null,
    firewall: gw.firewall,
    pinhole_active: made.pinhole !== undefined && keep,
    pinhole_unique_id: made.pinhole?.uniqueId ?? null,
    pinhole_lease_seconds: made.pinhole?.leaseSeconds ?? null,
    pinhole_inbound_allowed: gw.firewall?.inbound_pinhole_allowed ?? null,
    pinhole,
    inbound_verified: v6Check === undefined ? null : v6Check.reachable,
    error: ipv6 && ranked6.length === 0 ? 'no usable global IPv6 address' : null
  }
}

/**
 * What makes the verdict untrustworthy or the run a failure: offline / DNS failing (inconclusive),
 * a mapping or pinhole left behind (an error), with the exit code they force.
 */
function problemsOf (f: ReportFacts): { errors: string[], offline: string | undefined, leftBehind: boolean } {
  const errors = [...f.local.errors]
  const { measured, local } = f
  let offline: string | undefined
  if (local.errors.length === 0 && local.locals.length > 0 && local.locals.every(a => a.internal || a.range === 'loopback')) {
    offline = 'this host is offline: no network interface has an address besides loopback'
  } else if (measured.stun.dnsFailure !== undefined) {
    offline = `DNS fails or this host is offline: ${measured.stun.dnsFailure}`
  }
  if (offline !== undefined) errors.push(offline)
  let leftBehind = false
  for (const m of measured.mappings) {
    if (m.kept || m.deleted) continue
    leftBehind = true
    errors.push(`the ${m.via} mapping ${m.protocol.toUpperCase()} external port ${m.external_port} -> ${m.internal_host}:${m.internal_port} was NOT deleted (${m.error ?? 'unknown error'}); remove it with: ${m.remove_command ?? '?'}`)
  }
  const p = measured.pinhole
  if (p !== null && p.unique_id !== null && !p.kept && !p.deleted) {
    leftBehind = true
    errors.push(`the IPv6 pinhole ${p.unique_id} to [${p.address}]:${p.port} was NOT deleted (${p.error ?? 'unknown error'}); remove it with: ${p.remove_command ?? '?'}`)
  }
  return { errors, offline, leftBehind }
}

/** Classifies the measurements and assembles the report. */
export function buildReport (f: ReportFacts): ProbeReport {
  const { settings: s, measured } = f
  const marked = markContacted(measured.checks, measured.stun.section.stun_servers)
  const v4 = familyOutcome(marked.filter(c => c.family === 4))
  const v6 = familyOutcome(marked.filter(c => c.family === 6))
  const v4Check = v4.check
  const v6Check = v6.check
  const input = classifyInputFrom(f, v4, v6)
  const c = classify(input)
  const checks = marked.map(check => ({ ...check, counted_as: check.family === 6 ? c.reflector_outcome.ipv6 : c.reflector_outcome.ipv4 }))
  const mappingError = measured.made.mappingError
  const problems = problemsOf(f)
  let exitCode: ProbeReport['exit_code'] = exitCodeFor(c)
  const portInUse = input.portInUse === true && exitCode === 1
  if (portInUse || (problems.offline !== undefined && exitCode !== 0)) exitCode = 2
  if (problems.leftBehind) exitCode = 3
  const recommendation = problems.offline === undefined ? c.recommendation : `${problems.offline[0]?.toUpperCase() ?? ''}${problems.offline.slice(1)}: the verdict below is inconclusive. ${c.recommendation}`
  return {
    schema: PROBE_SCHEMA_ID,
    started_at: f.startedAt.toISOString(),
    inputs: {
      port: s.port,
      stun_servers: s.stun ? s.stunServers.map(x => formatHostPort(x.host, x.port)) : [],
      stun_default_servers: s.stunSource === 'default',
      stun_source: s.stunSource,
      reflectors: s.reflectors,
      discovery_errors: s.discoveryErrors,
      map: s.map,
      keep: s.keep,
      upnp: s.upnp,
      natpmp: s.natPmp,
      ipv6: s.ipv6,
      gateways: f.given.gateways ?? [],
      interface: f.given.interface ?? null,
      timeout_ms: s.timeoutMs,
      lease_s: s.leaseSeconds
    },
    local_addresses: describeLocalAddresses(f.local, s.ipv6),
    ipv4: ipv4Section(f, v4Check),
    cgnat: { ...c.cgnat, hop_check: measured.hop },
    double_nat: c.double_nat,
    nat_behavior: measured.stun.section,
    port_mapping: { ...measured.gateway.section, ...(mappingError === undefined ? {} : { error: mappingError }), mappings: measured.mappings },
    ipv6: ipv6Section(f, input, v6Check),
    reachability_checks: checks,
    compat: compatBlock(input),
    exposure_mode: c.exposure_mode,
    nat_type: c.nat_type,
    ipv4_direct: c.ipv4_direct,
    ipv6_direct: c.ipv6_direct,
    reflector_outcome: c.reflector_outcome,
    recommended_transport_method: c.recommended_transport_method,
    ladder: c.ladder,
    verification: c.verification,
    advertised_endpoint: c.advertised_endpoint,
    recommendation,
    exit_code: exitCode,
    errors: problems.errors,
    duration_ms: Math.round(performance.now() - f.t0)
  }
}
