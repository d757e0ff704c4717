/**
 * The probe's STUN step: resolve configured servers to IPv4 literals (names only when the
 * operator or the default list gave names), run RFC 5780 behaviour discovery, and shape the
 * `nat_behavior` section and the classifier's input.
 */
import { lookup as lookup4 } from 'node:dns/promises'
import { raceSignal } from '../../src/abort.ts'
import { errorMessage } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import type { ClassifyInput } from '../classify/classify.ts'
import type { StunServerSpec } from '../stun/default-servers.ts'
import type { ProbeNatBehavior, ProbeStunServer } from './schema.ts'
import { discoverNatBehavior, type NatBehaviorOptions, type NatBehaviorResult } from '../stun/index.ts'

/** The behaviour-discovery function (injectable for tests). */
export type DiscoverNatBehaviorFn = (options: NatBehaviorOptions) => Promise<NatBehaviorResult>
/** Name resolution to one IPv4 address (injectable: tests simulate a host without DNS). */
export type LookupIpv4Fn = (host: string) => Promise<{ address: string }>

/** Resolver error codes that mean "no DNS" (offline, or the resolver is unreachable), not "no such name". */
const NO_DNS_CODES = new Set(['EAI_AGAIN', 'EAI_FAIL', 'ECONNREFUSED', 'ETIMEOUT', 'ENETUNREACH', 'EAI_NONAME', 'ENOTFOUND'])

/** Options for {@link runStunProbe}. */
export interface StunProbeOptions {
  /** Servers in order; the first should be RFC 5780 capable. */
  servers: readonly StunServerSpec[]
  /** Deadline for resolution plus discovery. */
  timeoutMs: number
  /** Cancels the step. */
  signal?: AbortSignal
  /** Replaces discoverNatBehavior. */
  discover?: DiscoverNatBehaviorFn
  /** Replaces the DNS lookup of server names. */
  lookup?: LookupIpv4Fn
}

/** Result of the STUN step. */
export interface StunProbeResult {
  /** The `nat_behavior` section. */
  section: ProbeNatBehavior
  /** Classifier input; undefined when STUN did not run or measured nothing. */
  input: ClassifyInput['nat']
  /** Every server name failed to resolve for lack of DNS (the host looks offline): the resolver's reason. */
  dnsFailure?: string
}

/** An empty section (STUN skipped or failed). */
export function emptyNatBehavior (error: string | null): ProbeNatBehavior {
  return {
    mapping: 'unknown', filtering: 'unknown', hairpinning: null, port_preserving: null, udp_blocked: false, servers_unreachable: false,
    confidence: { filtering: 'none', filtering_rounds: 0, filtering_agreeing: 0 }, method: 'none',
    mapped_address: null, local_address: null, stun_servers: [], notes: [], error
  }
}

/** Runs the STUN step; never throws except on cancellation. */
export async function runStunProbe (options: StunProbeOptions): Promise<StunProbeResult> {
  const started = performance.now()
  const resolved: Array<{ host: string, port: number, configured: string }> = []
  const failed: ProbeStunServer[] = []
  const noDns: string[] = []
  const lookup = options.lookup ?? (async (host: string) => await lookup4(host, { family: 4 }))
  await Promise.all(options.servers.map(async s => {
    const configured = formatHostPort(s.host, s.port)
    const ip = tryParseIp(s.host)
    if (ip !== undefined) {
      if (ip.family === 4) resolved.push({ host: ip.address, port: s.port, configured })
      else failed.push({ server: configured, configured, responded: false, mapped: null, other_address: null, rtt_ms: null, error: 'IPv6 STUN servers are not probed (IPv4 NAT behaviour only)' })
      return
    }
    try {
      const r = await raceSignal(lookup(s.host), options.signal, 'STUN server lookup')
      resolved.push({ host: r.address, port: s.port, configured })
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code !== undefined && NO_DNS_CODES.has(code)) noDns.push(`${s.host}: ${errorMessage(err)}`)
      failed.push({ server: configured, configured, responded: false, mapped: null, other_address: null, rtt_ms: null, error: `lookup failed: ${errorMessage(err)}` })
    }
  }))
  // Keep the configured order (the first server is the RFC 5780 one).
  const order = options.servers.map(s => formatHostPort(s.host, s.port))
  resolved.sort((a, b) => order.indexOf(a.configured) - order.indexOf(b.configured))
  if (resolved.length === 0) {
    const offline = noDns.length > 0 && noDns.length === options.servers.length
    const section = emptyNatBehavior(failed.length === 0
      ? 'no STUN servers'
      : offline ? `no STUN server name resolves: DNS fails or this host is offline (${noDns[0] ?? ''})` : 'no usable IPv4 STUN server')
    section.stun_servers = failed
    return { section, input: undefined, ...(offline ? { dnsFailure: noDns.join('; ') } : {}) }
  }
  const remaining = Math.max(100, options.timeoutMs - (performance.now() - started))
  let result: NatBehaviorResult
  try {
    result = await (options.discover ?? discoverNatBehavior)({
      servers: resolved.map(r => ({ host: r.host, port: r.port })),
      family: 4,
      timeoutMs: remaining,
      hairpin: true,
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    const section = emptyNatBehavior(errorMessage(err))
    section.stun_servers = failed
    return { section, input: undefined }
  }
  const servers: ProbeStunServer[] = result.servers.map((s, i) => ({
    server: s.server,
    configured: resolved[i]?.configured ?? s.server,
    responded: s.responded,
    mapped: s.mapped ?? null,
    other_address: s.otherAddress ?? null,
    rtt_ms: s.rttMs === undefined ? null : Math.round(s.rttMs * 10) / 10,
    error: s.error ?? null
  }))
  const section: ProbeNatBehavior = {
    mapping: result.mapping,
    filtering: result.filtering,
    hairpinning: result.hairpinning ?? null,
    port_preserving: result.portPreserving ?? null,
    udp_blocked: result.udpBlocked,
    servers_unreachable: result.serversUnreachable,
    confidence: { filtering: result.confidence.filtering, filtering_rounds: result.confidence.filteringRounds, filtering_agreeing: result.confidence.filteringAgreeing },
    method: result.method,
    mapped_address: result.mapped === undefined ? null : formatHostPort(result.mapped.address, result.mapped.port),
    local_address: result.local === undefined ? null : formatHostPort(result.local.address, result.local.port),
    stun_servers: [...servers, ...failed],
    notes: result.notes,
    error: result.serversUnreachable ? `no answer from ${servers.map(x => x.configured).join(', ')}: the STUN server is unreachable (give two or more --stun servers to tell a dead server from blocked UDP)` : null
  }
  // A silent single server measured nothing: no NAT facts, and no claim that UDP is blocked.
  if (result.serversUnreachable) return { section, input: undefined }
  const input: NonNullable<ClassifyInput['nat']> = { udpBlocked: result.udpBlocked, mapping: result.mapping, filtering: result.filtering }
  const mapped = tryParseIp(result.mapped?.address)
  if (mapped !== undefined) input.mappedAddress = mapped.address
  return { section, input }
}
