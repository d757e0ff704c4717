/**
 * `probeNetwork()`: the measuring NAT probe behind `iicp-nat probe`.
 *
 * Interface scan, STUN (RFC 5780), router discovery (UPnP-IGD, NAT-PMP, IPv6 firewall control)
 * and, in read-only mode, the dial-back reflector checks all run concurrently under one deadline
 * (3 s by default). With `map`, the IPv4 mapping and IPv6 pinhole are created once the router is
 * known, verified through the reflector, and deleted again unless `keep`. The measurements are
 * then classified (nat/classify/) into the `iicp-nat-probe/v1` document (nat/probe/schema.ts).
 *
 * The steps live next to this file: local.ts (interfaces, no traffic), measure.ts (STUN, router,
 * mapping, dial-back), reachability.ts (reflector checks), report.ts (classification and document).
 */
import { throwIfAborted } from '../../src/abort.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { formatHostPort, parseHostPort } from '../../src/host-port.ts'
import type { InterfaceSources } from '../net/interfaces.ts'
import { DEFAULT_STUN_SERVERS, type StunServerSpec } from '../stun/default-servers.ts'
import { discoverFromReflectors } from './discovery.ts'
import type { DiscoverGatewaysFn } from './gateway.ts'
import { pickFreePort, scanLocal } from './local.ts'
import { measure, type MeasureSettings } from './measure.ts'
import type { VerifyReachabilityFn } from './reachability.ts'
import { buildReport } from './report.ts'
import type { ProbeReport } from './schema.ts'
import type { DiscoverNatBehaviorFn, LookupIpv4Fn } from './stun.ts'
import type { RunToolFn } from './carrier-hop.ts'

/** Default overall deadline of a read-only probe. */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000
/** Default overall deadline of a probe with `map` (discovery, mapping, verification, cleanup). */
export const DEFAULT_MAP_PROBE_TIMEOUT_MS = 8000
/** Default node port. */
export const DEFAULT_PROBE_PORT = 9484
/** Lease requested for a temporary `map` probe mapping (short, so a crash leaves nothing for long). */
export const PROBE_MAPPING_LEASE_S = 120
/** Most of the deadline the reflectors' discovery documents may take. */
const DISCOVERY_TIMEOUT_MS = 800

/** Injectable seams for tests. */
export interface ProbeDeps {
  /** Replaces STUN behaviour discovery. */
  discoverNatBehavior?: DiscoverNatBehaviorFn
  /** Replaces gateway discovery (tests return a fake gateway here). */
  discoverGateways?: DiscoverGatewaysFn
  /** Replaces the reflector client. */
  verifyReachability?: VerifyReachabilityFn
  /** Interface sources. */
  interfaces?: InterfaceSources
  /** Replaces the DNS lookup of STUN server names. */
  lookup?: LookupIpv4Fn
  /** Replaces running traceroute/tracepath for the carrier hop check (the tools then need not be installed). */
  runTool?: RunToolFn
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
  /** Look for a carrier-grade NAT hop (TTL-limited UDP probes toward the STUN server via traceroute/tracepath). @default true */
  carrierHop?: boolean
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

/** The options with their defaults applied; `port` 0 is replaced by a free port. */
async function resolveSettings (options: ProbeOptions, remaining: (timeoutMs: number) => number): Promise<MeasureSettings> {
  const map = options.map === true
  const keep = map && options.keep === true
  const upnp = options.upnp !== false
  const given = options.reflectors ?? []
  // One --reflector URL is enough: without --stun, its relay names its STUN server (used before
  // the public defaults) and any further reflectors. Given STUN servers are never replaced.
  const discovered = options.stun !== false && options.stunServers === undefined && given.length > 0
    ? await discoverFromReflectors(given, Math.min(DISCOVERY_TIMEOUT_MS, remaining(options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS) / 3), options.signal)
    : undefined
  const fromRelay = options.stunServers === undefined && discovered !== undefined && discovered.stun.length > 0
  const stunServers = options.stunServers ?? (fromRelay ? discovered.stun : DEFAULT_STUN_SERVERS)
  for (const s of stunServers) parseHostPort(formatHostPort(s.host, s.port))
  const requestedPort = options.port ?? DEFAULT_PROBE_PORT
  const timeoutMs = options.timeoutMs ?? (map ? DEFAULT_MAP_PROBE_TIMEOUT_MS : DEFAULT_PROBE_TIMEOUT_MS)
  const deps = options.deps ?? {}
  return {
    port: requestedPort === 0 ? await pickFreePort() : requestedPort,
    map,
    keep,
    upnp,
    natPmp: upnp && options.natPmp !== false,
    ipv6: options.ipv6 !== false,
    stun: options.stun !== false,
    stunServers,
    stunSource: options.stun === false ? 'none' : options.stunServers !== undefined ? 'given' : fromRelay ? 'reflector' : 'default',
    reflectors: [...given, ...(discovered?.reflectors ?? [])],
    discoveryErrors: discovered?.errors ?? [],
    timeoutMs,
    leaseSeconds: options.leaseSeconds ?? (keep ? 3600 : PROBE_MAPPING_LEASE_S),
    gateways: options.gateways,
    interface: options.interface,
    ssdpPort: options.ssdpPort,
    natPmpPort: options.natPmpPort,
    signal: options.signal,
    logger: options.logger ?? silentLogger(),
    remaining: () => remaining(timeoutMs),
    deps: { discoverNatBehavior: deps.discoverNatBehavior, discoverGateways: deps.discoverGateways, verifyReachability: deps.verifyReachability, interfaces: deps.interfaces, lookup: deps.lookup, runTool: deps.runTool },
    carrierHop: options.carrierHop !== false
  }
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
  // Every step gets its own share of the deadline, so the probe ends on time with partial
  // results; only the caller's signal cancels it.
  const settings = await resolveSettings(options, timeoutMs => Math.max(100, timeoutMs - (performance.now() - t0)))
  const local = await scanLocal(settings.deps.interfaces, settings.ipv6, settings.port)
  const measured = await measure(settings, local)
  throwIfAborted(options.signal, 'probe')
  return buildReport({ settings, local, measured, given: options, startedAt, t0 })
}
