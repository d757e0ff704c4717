/**
 * The probe's dial-back steps: which reflector checks one family each, running a check, and
 * marking which dial-backs came from an address this host had contacted.
 */
import { parseHostPort, urlHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import type { ReflectorOutcome } from '../classify/classify.ts'
import { verifyReachability, type VerifyReachabilityOptions } from '../reflector/client.ts'
import type { ProbeReachabilityCheck, ProbeStunServer } from './schema.ts'

/** One reflector check: which URL, over which family. */
export interface ReflectorPlan { url: string, family: 4 | 6 }

/** The reflector client (injectable: tests replace it). */
export type VerifyReachabilityFn = (options: VerifyReachabilityOptions) => ReturnType<typeof verifyReachability>

/** One check per family: the first reflector usable over each enabled family. */
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
  return [plans.find(p => p.family === 4), plans.find(p => p.family === 6)].filter((p): p is ReflectorPlan => p !== undefined)
}

/** What {@link runCheck} needs besides the plan. */
export interface CheckContext {
  port: number
  /** Milliseconds left of the probe's deadline. */
  remaining: () => number
  signal?: AbortSignal | undefined
  verify?: VerifyReachabilityFn | undefined
}

/** Runs one dial-back check; `dialback_from_contacted` and `counted_as` are filled in later. */
export async function runCheck (ctx: CheckContext, plan: ReflectorPlan, via: ProbeReachabilityCheck['via']): Promise<ProbeReachabilityCheck> {
  const r = await (ctx.verify ?? verifyReachability)({
    reflector: plan.url, port: ctx.port, family: plan.family, listenHost: plan.family === 6 ? '::' : '0.0.0.0', ipv6Only: plan.family === 6,
    timeoutMs: Math.min(3000, ctx.remaining() - 50), ...(ctx.signal === undefined ? {} : { signal: ctx.signal })
  })
  return { ...r, family: r.family ?? plan.family, via, dialback_from_contacted: true, counted_as: 'not_run' }
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

/** The raw outcome of a family's check, for classification. */
export function outcomeOf (check: ProbeReachabilityCheck | undefined): ReflectorOutcome {
  if (check === undefined) return 'not_run'
  if (check.reachable) return 'reachable'
  return check.reflector_reachable === null ? 'error' : 'unreachable'
}
