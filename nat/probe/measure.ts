/**
 * The probe's network steps: STUN, router discovery and (read-only) dial-back checks run
 * concurrently; with `map`, the mapping and pinhole are then created, verified through the
 * reflector and released (deleted unless `keep`), also when the probe is cancelled.
 */
import { errorMessage } from '../../src/errors.ts'
import { urlHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import type { Logger } from '../../src/log.ts'
import type { InterfaceSources } from '../net/interfaces.ts'
import type { PortMappingHandle } from '../portmap/portmap.ts'
import type { StunServerSpec } from '../stun/default-servers.ts'
import { createProbeMappings, emptyPortMapping, runGatewayProbe, type DiscoverGatewaysFn, type GatewayProbeResult, type ProbeMappings } from './gateway.ts'
import type { LocalScan } from './local.ts'
import { findCarrierHop, type CarrierHopCheck, type RunToolFn } from './carrier-hop.ts'
import { openGreetingListener, type GreetingListener } from './greeting-listener.ts'
import { planReflectors, runCheck, type CheckContext, type ReflectorPlan, type VerifyReachabilityFn } from './reachability.ts'
import type { ProbeIpv6, ProbeMapping, ProbeReachabilityCheck } from './schema.ts'
import { emptyNatBehavior, runStunProbe, type DiscoverNatBehaviorFn, type LookupIpv4Fn, type StunProbeResult } from './stun.ts'

/** Longest router discovery (SSDP, NAT-PMP) may take: a router that answers does so within a few hundred ms. */
const GATEWAY_DISCOVERY_MAX_MS = 1200
/** Longest the carrier hop check may take. */
const HOP_CHECK_MAX_MS = 1500
/** Share of the probe's deadline the STUN step may use (it follows --timeout, uncapped). */
const STUN_SHARE = 0.85

/** With a replaced tool runner, the tool is "found" under its own name (a test on a machine without traceroute). */
function cannedTool (name: string): string {
  return name
}

/** The resolved probe settings the network steps follow. */
export interface MeasureSettings {
  port: number
  map: boolean
  keep: boolean
  upnp: boolean
  natPmp: boolean
  ipv6: boolean
  stun: boolean
  stunServers: readonly StunServerSpec[]
  /** Where the STUN servers came from: given, a reflector's discovery document, the public defaults, or none (STUN off). */
  stunSource: 'given' | 'reflector' | 'default' | 'none'
  reflectors: string[]
  /** Relays whose discovery document could not be read. */
  discoveryErrors: string[]
  timeoutMs: number
  leaseSeconds: number
  gateways?: string[] | undefined
  interface?: string | undefined
  ssdpPort?: number | undefined
  natPmpPort?: number | undefined
  signal?: AbortSignal | undefined
  logger: Logger
  /** Milliseconds left of the probe's deadline (every step gets its own share of it). */
  remaining: () => number
  deps: {
    discoverNatBehavior?: DiscoverNatBehaviorFn | undefined
    discoverGateways?: DiscoverGatewaysFn | undefined
    verifyReachability?: VerifyReachabilityFn | undefined
    interfaces?: InterfaceSources | undefined
    lookup?: LookupIpv4Fn | undefined
    /** Replaces running traceroute/tracepath; with it the tools need not be installed. */
    runTool?: RunToolFn | undefined
  }
  /** Look for a carrier-grade NAT hop with TTL-limited probes. */
  carrierHop: boolean
}

/** What the network steps measured. */
export interface Measured {
  stun: StunProbeResult
  gateway: GatewayProbeResult
  /** Mappings created with `map` (already released). */
  made: ProbeMappings
  /** Dial-back checks, one per reflector and family. */
  checks: ProbeReachabilityCheck[]
  /** The IPv4 mapping as released, for `port_mapping.mappings`. */
  mappings: ProbeMapping[]
  /** The IPv6 pinhole as released (or why it failed). */
  pinhole: ProbeIpv6['pinhole']
  /** The carrier hop check. */
  hop: CarrierHopCheck
}

function startStun (s: MeasureSettings): Promise<StunProbeResult> {
  if (!s.stun) return Promise.resolve({ section: emptyNatBehavior('STUN disabled'), input: undefined })
  return runStunProbe({
    servers: s.stunServers, timeoutMs: Math.floor(s.timeoutMs * STUN_SHARE),
    ...(s.signal === undefined ? {} : { signal: s.signal }),
    ...(s.deps.lookup === undefined ? {} : { lookup: s.deps.lookup }),
    ...(s.deps.discoverNatBehavior === undefined ? {} : { discover: s.deps.discoverNatBehavior })
  })
}

function startGateway (s: MeasureSettings): Promise<GatewayProbeResult> {
  if (!s.upnp) return Promise.resolve({ discovered: undefined, section: emptyPortMapping('port mapping disabled (--no-upnp)'), firewall: null, withoutWan: [] })
  return runGatewayProbe({
    natPmp: s.natPmp, ipv6: s.ipv6, logger: s.logger,
    timeoutMs: Math.min(GATEWAY_DISCOVERY_MAX_MS, Math.floor(s.timeoutMs * 0.5)),
    callTimeoutMs: Math.min(1500, Math.floor(s.timeoutMs * 0.3)),
    ...(s.signal === undefined ? {} : { signal: s.signal }),
    ...(s.gateways === undefined ? {} : { gateways: s.gateways }),
    ...(s.interface === undefined ? {} : { interface: s.interface }),
    ...(s.ssdpPort === undefined ? {} : { ssdpPort: s.ssdpPort }),
    ...(s.natPmpPort === undefined ? {} : { natPmpPort: s.natPmpPort }),
    ...(s.deps.interfaces === undefined ? {} : { interfaceSources: s.deps.interfaces }),
    ...(s.deps.discoverGateways === undefined ? {} : { discover: s.deps.discoverGateways })
  })
}

/** Which path a `map` check tests: the mapping or pinhole when one was made, else the direct path. */
function viaOf (plan: ReflectorPlan, made: ProbeMappings): ProbeReachabilityCheck['via'] {
  if (plan.family === 4) return made.mapping === undefined ? 'direct' : made.mapping.gateway.protocol
  return made.pinhole === undefined ? 'direct' : 'pinhole'
}

/** The exact command that removes a mapping the probe could not delete (miniupnpc's upnpc, or natpmpc). */
export function mappingRemoveCommand (m: PortMappingHandle): string {
  const proto = m.protocol.toUpperCase()
  if (m.gateway.protocol === 'nat-pmp') return `natpmpc -g ${m.gateway.address} -a ${m.internalPort} ${m.externalPort} ${m.protocol} 0`
  return `upnpc -u ${m.gateway.location ?? `http://${m.gateway.address}/`} -d ${m.externalPort} ${proto}`
}

/** The command that removes a pinhole the probe could not delete. */
function pinholeRemoveCommand (uniqueId: number, location: string | undefined): string {
  return `upnpc -6${location === undefined ? '' : ` -u ${location}`} -D ${uniqueId}`
}

/** Releases what `map` made (deleted unless `keep`) and reports each as released. */
async function releaseMappings (made: ProbeMappings, s: MeasureSettings, checks: ProbeReachabilityCheck[], pinholeTarget: string | undefined): Promise<Pick<Measured, 'mappings' | 'pinhole'>> {
  const mappings: ProbeMapping[] = []
  let pinhole: ProbeIpv6['pinhole'] = null
  const keep = s.keep
  if (made.mapping !== undefined) {
    const m = made.mapping
    const err = await m.close({ keep })
    const v4check = checks.find(c => c.family === 4)
    mappings.push({
      via: m.gateway.protocol, protocol: m.protocol, internal_host: m.internalHost, internal_port: m.internalPort,
      external_port: m.externalPort, lease_s: m.leaseSeconds, verified: v4check === undefined ? null : v4check.reachable,
      kept: keep, deleted: !keep && err === undefined, error: err === undefined ? null : errorMessage(err),
      remove_command: err === undefined ? null : mappingRemoveCommand(m)
    })
  }
  if (made.pinhole !== undefined) {
    const p = made.pinhole
    const err = await p.close({ keep })
    pinhole = {
      address: p.internalClient, port: p.internalPort, unique_id: p.uniqueId, lease_s: p.leaseSeconds, kept: keep, deleted: !keep && err === undefined,
      error: err === undefined ? null : errorMessage(err), remove_command: err === undefined ? null : pinholeRemoveCommand(p.uniqueId, made.pinholeLocation)
    }
  } else if (made.pinholeError !== undefined && pinholeTarget !== undefined) {
    pinhole = { address: pinholeTarget, port: s.port, unique_id: null, lease_s: null, kept: false, deleted: false, error: made.pinholeError, remove_command: null }
  }
  return { mappings, pinhole }
}

/** Runs the network steps under the probe's deadline. Rejects only on cancellation (after releasing what `map` made). */
export async function measure (s: MeasureSettings, local: LocalScan): Promise<Measured> {
  const plans = planReflectors(s.reflectors, true, s.ipv6 && local.ranked6.length > 0)
  const listeners: CheckContext['listeners'] = {}
  const families = [...new Set(plans.map(p => p.family))]
  await Promise.all(families.map(async f => { listeners[f] = await openGreetingListener(s.port, f) }))
  try {
    return await measureWith(s, local, plans, { port: s.port, remaining: s.remaining, signal: s.signal, verify: s.deps.verifyReachability, listeners })
  } finally {
    await Promise.all(Object.values(listeners).map(async (l: GreetingListener) => { await l.close() }))
  }
}

/** The carrier hop check toward the first IPv4-literal STUN server (else reflector), concurrently with STUN. */
async function startHopCheck (s: MeasureSettings, local: LocalScan): Promise<CarrierHopCheck> {
  if (!s.carrierHop) return { ran: false, tool: null, target: null, hops: [], carrier_hop: null, error: 'disabled' }
  const literal = (h: string | undefined): string | undefined => tryParseIp(h)?.family === 4 ? h : undefined
  const target = s.stunServers.map(x => literal(x.host)).find(h => h !== undefined) ?? s.reflectors.map(r => literal(urlHost(r))).find(h => h !== undefined)
  return await findCarrierHop({ target, locals: local.locals, timeoutMs: Math.min(HOP_CHECK_MAX_MS, Math.floor(s.timeoutMs * 0.6)), signal: s.signal, run: s.deps.runTool, findTool: s.deps.runTool === undefined ? undefined : cannedTool })
}

async function measureWith (s: MeasureSettings, local: LocalScan, plans: ReflectorPlan[], ctx: CheckContext): Promise<Measured> {
  const hopTask = startHopCheck(s, local)
  const stunTask = startStun(s)
  const gatewayTask = startGateway(s)
  const readOnlyChecks = s.map ? Promise.resolve([]) : Promise.all(plans.map(async p => await runCheck(ctx, p, 'direct')))
  let made: ProbeMappings = {}
  let measured: Pick<Measured, 'stun' | 'gateway' | 'checks' | 'hop'>
  try {
    const [stun, gateway, checks, hop] = await Promise.all([stunTask, gatewayTask, readOnlyChecks, hopTask])
    measured = { stun, gateway, checks, hop }
    if (s.map) {
      if (gateway.discovered !== undefined) {
        made = await createProbeMappings({
          discovered: gateway.discovered, port: s.port, leaseSeconds: s.leaseSeconds, ipv6Address: local.ranked6[0]?.address, logger: s.logger,
          timeoutMs: Math.max(500, s.remaining() / 2), ...(s.signal === undefined ? {} : { signal: s.signal })
        })
      }
      const mapChecks = await Promise.all(plans.map(async p => await runCheck(ctx, p, viaOf(p, made))))
      measured = { stun, gateway, checks: mapChecks, hop }
    }
  } catch (err) {
    await releaseMappings(made, s, [], local.ranked6[0]?.address)
    throw err
  }
  return { ...measured, made, ...await releaseMappings(made, s, measured.checks, local.ranked6[0]?.address) }
}
