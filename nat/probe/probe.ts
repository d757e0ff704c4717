/**
 * `probeNetwork()`: the measuring NAT probe behind `iicp-nat probe`.
 *
 * Interface scan, STUN (RFC 5780), router discovery (UPnP-IGD, NAT-PMP, IPv6 firewall control)
 * and, in read-only mode, the dial-back reflector checks all run concurrently under one deadline
 * (3 s by default). With `map`, the IPv4 mapping and IPv6 pinhole are created once the router is
 * known, verified through the reflector, and deleted again unless `keep`. The measurements are
 * then classified (nat/classify.ts) into the `iicp-nat-probe/v1` document (nat/probe-schema.ts).
 */
import { createServer, type AddressInfo } from 'node:net'
import { throwIfAborted } from '../../src/abort.ts'
import { errorMessage } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { formatHostPort, parseHostPort, sameIp, tryParseIp, urlHost } from '../net/addr.ts'
import { classify, exitCodeFor, type ClassifyInput, type ReflectorOutcome } from '../classify/classify.ts'
import { DEFAULT_STUN_SERVERS, type StunServerSpec } from '../stun/default-servers.ts'
import { listLocalAddresses, publicOnInterface, rankServingIpv6, type InterfaceSources, type LocalAddress } from '../net/interfaces.ts'
import { createProbeMappings, emptyPortMapping, runGatewayProbe, type DiscoverGatewaysFn, type GatewayProbeResult, type ProbeMappings } from './gateway.ts'
import { PROBE_SCHEMA_ID, type ProbeIpv6, type ProbeMapping, type ProbeReachabilityCheck, type ProbeReport, type WanIpSource } from './schema.ts'
import { emptyNatBehavior, runStunProbe, type DiscoverNatBehaviorFn, type StunProbeResult } from './stun.ts'
import { verifyReachability, type VerifyReachabilityOptions } from '../reflector/client.ts'
import { listenTcp } from '../../src/transport/listen.ts'

/** Default overall deadline of a read-only probe. */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000
/** Default overall deadline of a probe with `map` (discovery, mapping, verification, cleanup). */
export const DEFAULT_MAP_PROBE_TIMEOUT_MS = 8000
/** Default node port. */
export const DEFAULT_PROBE_PORT = 9484
/** Lease requested for a temporary `map` probe mapping (short, so a crash leaves nothing for long). */
export const PROBE_MAPPING_LEASE_S = 120

/** Injectable seams for tests. */
export interface ProbeDeps {
  /** Replaces STUN behaviour discovery. */
  discoverNatBehavior?: DiscoverNatBehaviorFn
  /** Replaces gateway discovery (tests return a fake gateway here). */
  discoverGateways?: DiscoverGatewaysFn
  /** Replaces the reflector client. */
  verifyReachability?: (options: VerifyReachabilityOptions) => ReturnType<typeof verifyReachability>
  /** Interface sources. */
  interfaces?: InterfaceSources
}

/** Options for {@link probeNetwork}. */
export interface ProbeOptions {
  /** Port the node serves on (tested by the reflector; mapped with `map`). 0 picks a free port. @default 9484 */
  port?: number
  /** STUN servers (host names or IP literals); the first should offer RFC 5780. @default DEFAULT_STUN_SERVERS */
  stunServers?: readonly StunServerSpec[]
  /** Run the STUN step. @default true */
  stun?: boolean
  /** Dial-back reflector URLs (a literal IPv4/IPv6 host tests that family; a name tests IPv4, and IPv6 when available). @default [] */
  reflectors?: string[]
  /** Create (then delete) a mapping and pinhole and verify them. @default false */
  map?: boolean
  /** With `map`, leave the mapping and pinhole in place (their lease then runs out on the router). @default false */
  keep?: boolean
  /** Router port mapping discovery at all (UPnP-IGD and NAT-PMP). `false` sends no SSDP, SOAP or NAT-PMP. @default true */
  upnp?: boolean
  /** NAT-PMP (when `upnp` is on). @default true */
  natPmp?: boolean
  /** IPv6 probes. @default true */
  ipv6?: boolean
  /** Explicit gateways: device description URLs or router addresses (no multicast / default-gateway discovery). */
  gateways?: string[]
  /** Interface to discover on. */
  interface?: string
  /** Lease for `map`, seconds. @default 120 (3600 with `keep`) */
  leaseSeconds?: number
  /** Overall deadline. @default 3000 (8000 with `map`) */
  timeoutMs?: number
  /** The node advertises a relay path (classification rule 1). */
  relayEndpoint?: string
  /** The node advertises an external tunnel (classification rule 2). */
  tunnelUrl?: string
  /** SSDP port for explicit gateway addresses (tests). @default 1900 */
  ssdpPort?: number
  /** NAT-PMP port (tests). @default 5351 */
  natPmpPort?: number
  /** Cancels the probe (rejects with ERR_ABORTED; mappings already made are deleted). */
  signal?: AbortSignal
  /** Logger. @default silentLogger() */
  logger?: Logger
  /** Test seams. */
  deps?: ProbeDeps
}

/** A currently free TCP port (dual stack when possible), for `port: 0`. */
async function pickFreePort (): Promise<number> {
  const server = createServer()
  server.on('error', () => undefined)
  let addr: AddressInfo
  try {
    addr = await listenTcp(server, { port: 0, host: '::' })
  } catch {
    addr = await listenTcp(server, { port: 0, host: '0.0.0.0' })
  }
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return addr.port
}

async function v6ListenerOk (port: number): Promise<boolean> {
  const server = createServer()
  try {
    await listenTcp(server, { port, host: '::', ipv6Only: true })
    return true
  } catch {
    return false
  } finally {
    if (server.listening) await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
}

interface ReflectorPlan { url: string, family: 4 | 6 }

function planReflectors (urls: string[], ipv4: boolean, ipv6: boolean): ReflectorPlan[] {
  const plans: ReflectorPlan[] = []
  for (const url of urls) {
    const host = urlHost(url)
    const family = tryParseIp(host)?.family
    if (family === 4 && ipv4) plans.push({ url, family: 4 })
    else if (family === 6 && ipv6) plans.push({ url, family: 6 })
    else if (family === undefined) {
      if (ipv4) plans.push({ url, family: 4 })
      if (ipv6) plans.push({ url, family: 6 })
    }
  }
  // One check per family: the first reflector of each family.
  return [plans.find(p => p.family === 4), plans.find(p => p.family === 6)].filter((p): p is ReflectorPlan => p !== undefined)
}

function tryParseHostPort (text: string): string | undefined {
  try {
    return parseHostPort(text, { allowNames: false }).host
  } catch {
    return undefined
  }
}

function outcomeOf (check: ProbeReachabilityCheck | undefined): ReflectorOutcome {
  if (check === undefined) return 'not_run'
  if (check.reachable) return 'reachable'
  return check.reflector_reachable === null ? 'error' : 'unreachable'
}

/**
 * Probes the network and classifies it. Never throws for a failing sub-probe (each section
 * carries its own `error`); rejects only on cancellation or invalid options.
 *
 * @example
 * ```ts
 * const report = await probeNetwork({ stunServers: [{ host: '198.51.100.7', port: 3478 }], reflectors: ['https://relay.example'] })
 * console.log(report.exposure_mode, report.nat_type, report.verification)
 * ```
 */
export async function probeNetwork (options: ProbeOptions = {}): Promise<ProbeReport> {
  throwIfAborted(options.signal, 'probe')
  const startedAt = new Date()
  const t0 = performance.now()
  const log = options.logger ?? silentLogger()
  const deps = options.deps ?? {}
  const map = options.map === true
  const keep = map && options.keep === true
  const upnp = options.upnp !== false
  const natPmp = upnp && options.natPmp !== false
  const ipv6 = options.ipv6 !== false
  const stunServers = options.stunServers ?? DEFAULT_STUN_SERVERS
  const timeoutMs = options.timeoutMs ?? (map ? DEFAULT_MAP_PROBE_TIMEOUT_MS : DEFAULT_PROBE_TIMEOUT_MS)
  const leaseSeconds = options.leaseSeconds ?? (keep ? 3600 : PROBE_MAPPING_LEASE_S)
  const requestedPort = options.port ?? DEFAULT_PROBE_PORT
  for (const s of stunServers) parseHostPort(formatHostPort(s.host, s.port))
  const port = requestedPort === 0 ? await pickFreePort() : requestedPort
  const errors: string[] = []
  // Every step gets its own share of the deadline, so the probe ends on time with partial
  // results; only the caller's signal cancels it.
  const signal = options.signal
  const remaining = (): number => Math.max(100, timeoutMs - (performance.now() - t0))

  // 1. Interfaces (synchronous, no traffic).
  let locals: LocalAddress[] = []
  try {
    locals = listLocalAddresses(deps.interfaces)
  } catch (err) {
    errors.push(`interface scan: ${errorMessage(err)}`)
  }
  const pub = publicOnInterface(locals)
  const ranked6 = ipv6 ? rankServingIpv6(locals) : []
  const listenerV6 = ipv6 && ranked6.length > 0 ? await v6ListenerOk(port) : null

  // 2. Concurrent probes.
  const reflectorPlans = planReflectors(options.reflectors ?? [], true, ipv6 && ranked6.length > 0)
  const checks: ProbeReachabilityCheck[] = []
  const check = async (plan: ReflectorPlan, via: ProbeReachabilityCheck['via']): Promise<void> => {
    const r = await (deps.verifyReachability ?? verifyReachability)({
      reflector: plan.url, port, family: plan.family, listenHost: plan.family === 6 ? '::' : '0.0.0.0', ipv6Only: plan.family === 6,
      timeoutMs: Math.min(3000, remaining() - 50), ...(signal === undefined ? {} : { signal })
    })
    checks.push({ ...r, family: r.family ?? plan.family, via, dialback_from_contacted: true, counted_as: 'not_run' })
  }
  const stunTask: Promise<StunProbeResult> = options.stun === false
    ? Promise.resolve({ section: emptyNatBehavior('STUN disabled'), input: undefined })
    : runStunProbe({
      servers: stunServers, timeoutMs: Math.min(2500, Math.floor(timeoutMs * 0.85)),
      ...(signal === undefined ? {} : { signal }),
      ...(deps.discoverNatBehavior === undefined ? {} : { discover: deps.discoverNatBehavior })
    })
  const gatewayTask: Promise<GatewayProbeResult> = upnp
    ? runGatewayProbe({
      natPmp, ipv6, logger: log,
      timeoutMs: Math.min(1500, Math.floor(timeoutMs * 0.5)),
      callTimeoutMs: Math.min(1500, Math.floor(timeoutMs * 0.3)),
      ...(signal === undefined ? {} : { signal }),
      ...(options.gateways === undefined ? {} : { gateways: options.gateways }),
      ...(options.interface === undefined ? {} : { interface: options.interface }),
      ...(options.ssdpPort === undefined ? {} : { ssdpPort: options.ssdpPort }),
      ...(options.natPmpPort === undefined ? {} : { natPmpPort: options.natPmpPort }),
      ...(deps.interfaces === undefined ? {} : { interfaceSources: deps.interfaces }),
      ...(deps.discoverGateways === undefined ? {} : { discover: deps.discoverGateways })
    })
    : Promise.resolve({ discovered: undefined, section: emptyPortMapping('port mapping disabled (--no-upnp)'), firewall: null, withoutWan: [] })
  const readOnlyChecks = map ? Promise.resolve() : Promise.all(reflectorPlans.map(async p => { await check(p, 'direct') })).then(() => undefined)

  let made: ProbeMappings = {}
  let stun: StunProbeResult
  let gw: GatewayProbeResult
  const mappings: ProbeMapping[] = []
  let pinholeReport: ProbeIpv6['pinhole'] = null
  try {
    [stun, gw] = await Promise.all([stunTask, gatewayTask, readOnlyChecks])

    // 3. With --map: mapping + pinhole, then verification through them.
    if (map && gw.discovered !== undefined) {
      made = await createProbeMappings({
        discovered: gw.discovered, port, leaseSeconds, ipv6Address: ranked6[0]?.address, logger: log,
        timeoutMs: Math.max(500, remaining() / 2), ...(signal === undefined ? {} : { signal })
      })
      if (made.mappingError !== undefined) gw.section.error = made.mappingError
    }
    if (map) {
      await Promise.all(reflectorPlans.map(async p => {
        const via = p.family === 4
          ? (made.mapping === undefined ? 'direct' : made.mapping.gateway.protocol)
          : (made.pinhole === undefined ? 'direct' : 'pinhole')
        await check(p, via)
      }))
    }
  } finally {
    // 4. Cleanup (also on cancellation): delete unless --keep.
    if (made.mapping !== undefined) {
      const m = made.mapping
      const err = await m.close({ keep })
      const v4check = checks.find(c => c.family === 4)
      mappings.push({
        via: m.gateway.protocol, protocol: m.protocol, internal_host: m.internalHost, internal_port: m.internalPort,
        external_port: m.externalPort, lease_s: m.leaseSeconds, verified: v4check === undefined ? null : v4check.reachable,
        kept: keep, deleted: !keep && err === undefined, error: err === undefined ? null : errorMessage(err)
      })
    }
    if (made.pinhole !== undefined) {
      const p = made.pinhole
      const err = await p.close({ keep })
      pinholeReport = { address: p.internalClient, port: p.internalPort, unique_id: p.uniqueId, lease_s: p.leaseSeconds, kept: keep, deleted: !keep && err === undefined, error: err === undefined ? null : errorMessage(err) }
    } else if (made.pinholeError !== undefined && ranked6[0] !== undefined) {
      pinholeReport = { address: ranked6[0].address, port, unique_id: null, lease_s: null, kept: false, deleted: false, error: made.pinholeError }
    }
  }
  throwIfAborted(options.signal, 'probe')
  gw.section.mappings = mappings

  // 5. Assemble classifier input and the report.
  // Addresses this probe talked to: a dial-back from one of them also passes an address-restricted filter.
  const contacted = new Set<string>()
  for (const s of stun.section.stun_servers) {
    for (const hp of [s.server, s.other_address]) {
      const host = hp === null ? undefined : tryParseHostPort(hp)
      if (host !== undefined) contacted.add(host)
    }
  }
  for (const c of checks) if (c.reflector_address !== null) contacted.add(c.reflector_address)
  for (const c of checks) c.dialback_from_contacted = c.dialed_from === null || contacted.has(c.dialed_from)
  const v4Check = checks.find(c => c.family === 4)
  const v6Check = checks.find(c => c.family === 6)
  const input: ClassifyInput = {
    port,
    ipv4: { enabled: true, publicOnInterface: pub.ipv4, reflector: outcomeOf(v4Check) },
    ipv6: {
      enabled: ipv6,
      globalAddresses: ranked6.map(a => a.address),
      stableAddresses: ranked6.filter(a => a.flags?.temporary !== true).map(a => a.address),
      reflector: outcomeOf(v6Check)
    }
  }
  if (v4Check !== undefined) input.ipv4.reflectorFromContacted = v4Check.dialback_from_contacted
  if (v6Check !== undefined) input.ipv6.reflectorFromContacted = v6Check.dialback_from_contacted
  if (stun.input !== undefined) input.nat = stun.input
  if (options.relayEndpoint !== undefined) input.relayEndpoint = options.relayEndpoint
  if (options.tunnelUrl !== undefined) input.tunnelUrl = options.tunnelUrl
  if (gw.wan !== undefined) {
    input.ipv4.gatewayWanIp = gw.wan.ip
    input.ipv4.gatewayProtocol = gw.wan.source === 'igd' ? 'upnp-igd' : 'nat-pmp'
  } else if (gw.section.protocol !== null) {
    // A gateway answered without a usable WAN address (upstream SDKs then fall back to an echo IP).
    input.ipv4.gatewayWanIp = ''
    input.ipv4.gatewayProtocol = gw.section.protocol
  }
  if (gw.withoutWan.length > 0) input.ipv4.gatewayWithoutPublicWan = gw.withoutWan
  if (made.mapping !== undefined) {
    input.ipv4.mapping = { externalPort: made.mapping.externalPort, ...(made.mapping.externalIp === undefined ? {} : { externalIp: made.mapping.externalIp }) }
  } else if (made.mappingError !== undefined) {
    input.ipv4.mappingFailed = true
  }
  if (v4Check?.observed_address !== null && v4Check?.observed_address !== undefined) input.ipv4.reflectorObserved = v4Check.observed_address
  if (v6Check?.observed_address !== null && v6Check?.observed_address !== undefined) input.ipv6.reflectorObserved = v6Check.observed_address
  if (made.pinhole !== undefined) input.ipv6.pinhole = { address: made.pinhole.internalClient, uniqueId: made.pinhole.uniqueId, leaseSeconds: made.pinhole.leaseSeconds }
  if (gw.firewall?.inbound_pinhole_allowed !== null && gw.firewall?.inbound_pinhole_allowed !== undefined) input.ipv6.pinholeAllowed = gw.firewall.inbound_pinhole_allowed

  const c = classify(input)
  if (v4Check !== undefined) v4Check.counted_as = c.reflector_outcome.ipv4
  if (v6Check !== undefined) v6Check.counted_as = c.reflector_outcome.ipv6
  if (v4Check?.reachable === true && tryParseIp(v4Check.observed_address)?.range !== 'global') {
    c.recommendation += ` Note: the reflector saw the non-public address ${v4Check.observed_address ?? ''}, so it sits inside your network and proves local reachability only.`
  }

  const wanSources: WanIpSource[] = []
  if (gw.wan !== undefined) wanSources.push({ source: gw.wan.source, value: gw.wan.ip })
  const natpmpIp = tryParseIp(gw.section.natpmp?.external_ip)
  if (natpmpIp !== undefined && gw.wan?.source !== 'natpmp') wanSources.push({ source: 'natpmp', value: natpmpIp.address })
  if (stun.input?.mappedAddress !== undefined) wanSources.push({ source: 'stun', value: stun.input.mappedAddress })
  if (v4Check?.observed_address !== null && v4Check?.observed_address !== undefined) wanSources.push({ source: 'reflector', value: v4Check.observed_address })
  for (const ip of pub.ipv4) wanSources.push({ source: 'interface', value: ip })
  const best = wanSources.find(s => s.source === 'stun') ?? wanSources.find(s => s.source === 'reflector') ?? wanSources[0]
  const outside = wanSources.filter(s => s.source !== 'interface')

  const ipv6Section: ProbeIpv6 = {
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
    pinhole: pinholeReport,
    inbound_verified: v6Check === undefined ? null : v6Check.reachable,
    error: ipv6 && ranked6.length === 0 ? 'no usable global IPv6 address' : null
  }

  return {
    schema: PROBE_SCHEMA_ID,
    started_at: startedAt.toISOString(),
    inputs: {
      port,
      stun_servers: options.stun === false ? [] : stunServers.map(s => formatHostPort(s.host, s.port)),
      stun_default_servers: options.stun !== false && options.stunServers === undefined,
      reflectors: options.reflectors ?? [],
      map,
      keep,
      upnp,
      natpmp: natPmp,
      ipv6,
      gateways: options.gateways ?? [],
      interface: options.interface ?? null,
      timeout_ms: timeoutMs,
      lease_s: leaseSeconds
    },
    ipv4: {
      local_addresses: locals.filter(a => a.family === 4 && !a.internal).map(a => ({ interface: a.interface, address: a.address, prefix_length: a.prefixLength, range: a.range })),
      public_on_interface: pub.ipv4,
      wan_ip: {
        value: best?.value ?? null,
        sources: wanSources,
        consistent: outside.every(s => sameIp(s.value, outside[0]?.value))
      }
    },
    cgnat: c.cgnat,
    double_nat: c.double_nat,
    nat_behavior: stun.section,
    port_mapping: gw.section,
    ipv6: ipv6Section,
    reachability_checks: checks,
    compat: c.compat,
    exposure_mode: c.exposure_mode,
    nat_type: c.nat_type,
    ipv4_direct: c.ipv4_direct,
    ipv6_direct: c.ipv6_direct,
    reflector_outcome: c.reflector_outcome,
    recommended_transport_method: c.recommended_transport_method,
    ladder: c.ladder,
    verification: c.verification,
    advertised_endpoint: c.advertised_endpoint,
    recommendation: c.recommendation,
    exit_code: exitCodeFor(c),
    errors,
    duration_ms: Math.round(performance.now() - t0)
  }
}
