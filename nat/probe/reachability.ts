/**
 * The probe's dial-back steps: which reflectors check which family (every reflector given, up to
 * {@link MAX_REFLECTORS_PER_FAMILY} per family), running a check against the family's shared
 * listener, marking which dial-backs came from an address this host had contacted, and folding
 * a family's checks into one outcome: a verified nonce proves reachability; a failure refutes it
 * only when at least two reflectors answered and agree (one that cannot dial out fails the same way).
 */
import { parseHostPort, urlHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import type { ReflectorOutcome } from '../classify/classify.ts'
import { verifyReachability, type VerifyReachabilityOptions } from '../reflector/client.ts'
import type { GreetingListener } from './greeting-listener.ts'
import type { ProbeReachabilityCheck, ProbeStunServer } from './schema.ts'

/** One reflector check: which URL, over which family. */
export interface ReflectorPlan { url: string, family: 4 | 6 }

/** The reflector client (injectable: tests replace it). */
export type VerifyReachabilityFn = (options: VerifyReachabilityOptions) => ReturnType<typeof verifyReachability>

/** The reflector's connect attempt gets this share of the time left (a silent NAT costs exactly this) … */
const DIAL_TIMEOUT_SHARE = 0.45
/** … at least this (a SYN and one retransmission) … */
const DIAL_TIMEOUT_MIN_MS = 1100
/** … and at most the reflector's own default. */
const DIAL_TIMEOUT_MAX_MS = 2000

/** Most reflectors asked per family. */
export const MAX_REFLECTORS_PER_FAMILY = 4
/** Reflectors that must answer and agree before a failure refutes reachability. */
export const REFUTE_QUORUM = 2

/** The checks to run: every reflector usable over each enabled family (deduplicated, at most {@link MAX_REFLECTORS_PER_FAMILY} each). */
export function planReflectors (urls: string[], ipv4: boolean, ipv6: boolean): ReflectorPlan[] {
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
  const seen = new Set<string>()
  const unique = plans.filter(p => {
    const key = `${p.family} ${p.url}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  return [4, 6].flatMap(f => unique.filter(p => p.family === f).slice(0, MAX_REFLECTORS_PER_FAMILY))
}

/** What {@link runCheck} needs besides the plan. */
export interface CheckContext {
  port: number
  /** Milliseconds left of the probe's deadline. */
  remaining: () => number
  signal?: AbortSignal | undefined
  verify?: VerifyReachabilityFn | undefined
  /** The family's shared listener on the node's port. */
  listeners: Partial<Record<4 | 6, GreetingListener>>
}

/** Runs one dial-back check; `dialback_from_contacted` and `counted_as` are filled in later. */
export async function runCheck (ctx: CheckContext, plan: ReflectorPlan, via: ProbeReachabilityCheck['via']): Promise<ProbeReachabilityCheck> {
  const listener = ctx.listeners[plan.family]
  const r = await (ctx.verify ?? verifyReachability)({
    reflector: plan.url, port: ctx.port, family: plan.family, listenHost: plan.family === 6 ? '::' : '0.0.0.0', ipv6Only: plan.family === 6,
    timeoutMs: ctx.remaining() - 50, ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    // The reflector's connect attempt must end (and its answer arrive) well inside our deadline.
    dialTimeoutMs: Math.max(DIAL_TIMEOUT_MIN_MS, Math.min(DIAL_TIMEOUT_MAX_MS, Math.floor((ctx.remaining() - 50) * DIAL_TIMEOUT_SHARE))),
    ...(listener === undefined ? {} : { awaitGreeting: listener.awaitGreeting })
  })
  const inUse = listener?.unavailable
  return {
    ...r, family: r.family ?? plan.family, via, dialback_from_contacted: true, counted_as: 'not_run', port_in_use: listener?.inUse === true,
    ...(inUse === undefined ? {} : { error: `${inUse}${r.reflector_reachable === true ? '; the reflector connected to it' : ''}${r.error === null ? '' : ` (${r.error})`}` })
  }
}

function hostOf (text: string): string | undefined {
  try {
    return parseHostPort(text, { allowNames: false }).host
  } catch {
    return undefined
  }
}

/**
 * The checks with `dialback_from_contacted` set: a dial-back from an address this probe talked
 * to (a STUN server, its other address, a reflector) also passes an address-restricted filter.
 */
export function markContacted (checks: ProbeReachabilityCheck[], stunServers: ProbeStunServer[]): ProbeReachabilityCheck[] {
  const contacted = new Set<string>()
  for (const s of stunServers) {
    for (const hp of [s.server, s.other_address]) {
      const host = hp === null ? undefined : hostOf(hp)
      if (host !== undefined) contacted.add(host)
    }
  }
  for (const c of checks) if (c.reflector_address !== null) contacted.add(c.reflector_address)
  return checks.map(c => ({ ...c, dialback_from_contacted: c.dialed_from === null || contacted.has(c.dialed_from) }))
}

/** One family's checks folded into one raw outcome, the check that stands for it, and why the failures failed. */
export interface FamilyOutcome {
  outcome: ReflectorOutcome
  /** The check classification reads (contacted-ness, observed address); undefined when none ran. */
  check: ProbeReachabilityCheck | undefined
  /** `reflector: reason` of each failed check. */
  failures: string[]
}

/**
 * Folds a family's checks: any verified nonce is `reachable` (preferring a dial-back from an
 * address this host never contacted); a reflector that connected to a port another program holds
 * is a weak success (`inconclusive`); failures refute (`unreachable`) only when at least
 * {@link REFUTE_QUORUM} distinct reflectors answered and agree, else `unconfirmed`; no answer at all is `error`.
 */
export function familyOutcome (checks: ProbeReachabilityCheck[]): FamilyOutcome {
  const failures = checks.filter(c => !c.reachable).map(c => `${c.reflector}: ${c.error ?? 'not reachable'}`)
  if (checks.length === 0) return { outcome: 'not_run', check: undefined, failures }
  const ok = checks.filter(c => c.reachable)
  const best = ok.find(c => !c.dialback_from_contacted) ?? ok[0]
  if (best !== undefined) return { outcome: 'reachable', check: best, failures }
  const busy = checks.find(c => c.port_in_use && c.reflector_reachable === true)
  if (busy !== undefined) return { outcome: 'inconclusive', check: busy, failures }
  const refusals = checks.filter(c => c.reflector_reachable === false)
  const agreeing = new Set(refusals.map(c => c.reflector_address ?? c.reflector))
  const first = refusals[0]
  if (first === undefined) return { outcome: 'error', check: checks[0], failures }
  return { outcome: agreeing.size >= REFUTE_QUORUM ? 'unreachable' : 'unconfirmed', check: first, failures }
}
