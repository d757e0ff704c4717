/**
 * The three rungs of the reachability ladder, each tried once: `direct` (a public IPv4 or global
 * IPv6 address on this host that a reflector reaches on the served port), `upnp_mapped` (a
 * UPnP-IGD / NAT-PMP mapping and, where IGDv2 offers it, an IPv6 pinhole, verified through the
 * router), and `relay` (a bind to the first relay of the candidate list that accepts). A
 * success is an {@link ActiveRung}: what to register, how to re-check it, how to release it.
 */
import { errorMessage } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import type { HeldLease, HeldMapping, ReachCapabilities, VerifyResult } from '../../src/reach/capabilities.ts'
import { candidateLabel, type RelayCandidate } from './relay-choice.ts'

/** The rungs, best first. */
export const RUNGS = ['direct', 'upnp_mapped', 'relay'] as const
/** One rung. */
export type Rung = typeof RUNGS[number]

/** One line a person sees: `✓ direct ipv4 http://…:9484 verified`. */
export interface RungLine { ok: boolean, text: string }

/** A rung that works now. */
export interface ActiveRung {
  readonly rung: Rung
  /** The URL consumers call (registered as `endpoint`). */
  readonly endpoint: string
  /** `direct`, `upnp_mapped` or `turn_relay`. */
  readonly transportMethod: 'direct' | 'upnp_mapped' | 'turn_relay'
  /** Recomputed from what was verified. */
  readonly exposureMode: string
  /** `transport_metadata` for the directory (rung, candidates, relay endpoint, lease). */
  readonly metadata: Record<string, unknown>
  /** Re-checks the rung: undefined while it works, else why not. */
  check: (signal: AbortSignal) => Promise<string | undefined>
  /** Lease or session state for health and metrics. */
  state: () => Record<string, unknown>
  /** IPv6 addresses this rung opened firewall pinholes for (a direct check through them proves nothing). */
  readonly pinholes?: readonly string[]
  /** Releases it (deletes leases, unbinds after running tasks finish). Never rejects. */
  close: () => Promise<void>
}

/** A bound relay session, as the node's relay binder returns it. */
export interface BoundRelay {
  /** `http://relay:http/v1/relay-for/<id>`. */
  endpoint: string
  /** The relay's HTTP front (learned from RELAY_ACK key 4). */
  httpUrl: string
  /** True while the session is bound. */
  bound: () => boolean
  /** Unbinds after running tasks finish. */
  close: () => Promise<void>
}

/** What the rungs need from the node. */
export interface RungContext {
  caps: ReachCapabilities
  /** The served port and the greeting hook of the node's front. */
  front: { port: number, awaitGreeting: (line: string, signal: AbortSignal) => Promise<string> }
  /** Reflector base URLs, in order. */
  reflectors: () => string[]
  verifyTimeoutMs: number
  /** Deadline of a gateway mapping request (discovery included). */
  mapTimeoutMs: number
  leaseSeconds: number
  /** A re-check trigger (lease renewal failed, relay session dropped). */
  trigger: (reason: string) => void
  /** Relay candidates in the order to try. */
  relays: (signal: AbortSignal) => Promise<RelayCandidate[]>
  /** Binds to one relay; rejects when it does not bind in time. */
  bindRelay: (candidate: RelayCandidate, signal: AbortSignal) => Promise<BoundRelay>
}

/** The outcome of one attempt: the lines to print and, on success, the rung. */
export interface RungOutcome { lines: RungLine[], active?: ActiveRung }

function familyOfHost (url: string): 4 | 6 | undefined {
  let host: string
  try { host = new URL(url).hostname } catch { return undefined }
  if (host.startsWith('[')) return 6
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 4 : undefined
}

/** Asks the reflectors that can serve `family`, in order, until one answers (reachable or not). */
export async function verifyFamily (ctx: RungContext, family: 4 | 6, port: number, signal: AbortSignal): Promise<VerifyResult> {
  let last: VerifyResult = { reachable: false, observedAddress: null, error: `no IPv${family} reflector` }
  for (const reflector of ctx.reflectors()) {
    const f = familyOfHost(reflector)
    if (f !== undefined && f !== family) continue
    last = await ctx.caps.verify({ reflector, port, family, awaitGreeting: ctx.front.awaitGreeting, timeoutMs: ctx.verifyTimeoutMs, signal })
    if (last.reachable || last.observedAddress !== null) return last
  }
  return last
}

function url (address: string, port: number): string {
  return `http://${formatHostPort(address, port)}`
}

/** A verified URL and the port the reflector dials for it. */
interface Verified { family: 4 | 6, url: string, dialPort: number }

/** The exposure mode of what was verified (the classifier's rule: both families, IPv4, or IPv6). */
function modeOf (verified: readonly Verified[]): string {
  const v4 = verified.some(v => v.family === 4)
  const v6 = verified.some(v => v.family === 6)
  return v4 && v6 ? 'dual_stack_available' : v4 ? 'ipv4_public_direct' : 'ipv6_direct_pinhole_available'
}

/** Re-verifies every verified URL; undefined while all reach, else why not. */
async function recheck (ctx: RungContext, verified: readonly Verified[], label: string, signal: AbortSignal): Promise<string | undefined> {
  for (const v of verified) {
    const r = await verifyFamily(ctx, v.family, v.dialPort, signal)
    if (!r.reachable) return `${label} ipv${v.family} ${r.error ?? 'not reachable'}`
  }
  return undefined
}

/** Rung 1: a public address on this host, verified per family. */
export async function tryDirect (ctx: RungContext, signal: AbortSignal, pinholed: readonly string[] = []): Promise<RungOutcome> {
  const found = ctx.caps.localAddresses()
  const local = { ipv4: found.ipv4, ipv6: found.ipv6.filter(a => !pinholed.includes(a)) }
  if (local.ipv4.length === 0 && local.ipv6.length === 0) return { lines: [{ ok: false, text: 'direct no public address on this host' }] }
  const port = ctx.front.port
  const lines: RungLine[] = []
  const verified: Verified[] = []
  for (const [family, list] of [[4, local.ipv4], [6, local.ipv6]] as const) {
    if (list.length === 0) continue
    const r = await verifyFamily(ctx, family, port, signal)
    if (r.reachable && r.observedAddress !== null && list.includes(r.observedAddress)) {
      verified.push({ family, url: url(r.observedAddress, port), dialPort: port })
      lines.push({ ok: true, text: `direct ipv${family} ${url(r.observedAddress, port)} verified` })
    } else {
      const why = r.reachable ? `reflector saw ${r.observedAddress ?? '?'}, not a local address` : (r.error ?? 'not reachable')
      lines.push({ ok: false, text: `direct ipv${family} ${url(list[0] as string, port)} ${why}` })
    }
  }
  const first = verified[0]
  if (first === undefined) return { lines }
  return {
    lines,
    active: {
      rung: 'direct',
      endpoint: first.url,
      transportMethod: 'direct',
      exposureMode: modeOf(verified),
      metadata: { rung: 'direct', candidates: verified.map(v => v.url) },
      check: async s => await recheck(ctx, verified, 'direct', s),
      state: () => ({ candidates: verified.map(v => v.url) }),
      close: async () => {}
    }
  }
}

function leaseState (l: HeldLease): Record<string, unknown> {
  return { kind: l.kind, lease_seconds: l.leaseSeconds, renewals: l.renewals, expires_at: l.expiresAt === undefined ? null : new Date(l.expiresAt).toISOString() }
}

/** Rung 2: a router mapping (and an IPv6 pinhole where offered), verified through the router. */
export async function tryMapped (ctx: RungContext, signal: AbortSignal): Promise<RungOutcome> {
  const port = ctx.front.port
  const lines: RungLine[] = []
  const leases: HeldLease[] = []
  const verified: Verified[] = []
  const onRenew = (what: string) => (ok: boolean, error?: string): void => { if (!ok) ctx.trigger(`${what} lease renewal failed${error === undefined ? '' : `: ${error}`}`) }
  const seconds = `${Math.round(ctx.mapTimeoutMs / 100) / 10} s`
  let mapping: HeldMapping | undefined
  try {
    mapping = await ctx.caps.mapPort({ internalPort: port, leaseSeconds: ctx.leaseSeconds, onRenew: onRenew('mapping'), timeoutMs: ctx.mapTimeoutMs, signal })
    leases.push(mapping)
  } catch (err) {
    lines.push({ ok: false, text: `upnp no IGD answered in ${seconds} (${errorMessage(err)})` })
  }
  if (mapping !== undefined) {
    const r = await verifyFamily(ctx, 4, mapping.externalPort, signal)
    const where = formatHostPort(mapping.externalIp ?? r.observedAddress ?? '?', mapping.externalPort)
    if (r.reachable && r.observedAddress !== null && (mapping.externalIp === undefined || mapping.externalIp === r.observedAddress)) {
      verified.push({ family: 4, url: url(r.observedAddress, mapping.externalPort), dialPort: mapping.externalPort })
      lines.push({ ok: true, text: `upnp ${mapping.kind} ${where} verified` })
    } else {
      lines.push({ ok: false, text: `upnp ${mapping.kind} ${where} mapped but ${r.reachable ? `the reflector saw ${r.observedAddress ?? '?'}` : (r.error ?? 'not reachable')}` })
    }
  }
  const v6 = ctx.caps.localAddresses().ipv6[0]
  let pinholed: string | undefined
  if (v6 !== undefined && ctx.caps.openPinhole !== undefined) {
    try {
      const pinhole = await ctx.caps.openPinhole({ address: v6, internalPort: port, leaseSeconds: ctx.leaseSeconds, onRenew: onRenew('pinhole'), timeoutMs: ctx.mapTimeoutMs, signal })
      leases.push(pinhole)
      pinholed = v6
      const r = await verifyFamily(ctx, 6, port, signal)
      if (r.reachable) {
        verified.push({ family: 6, url: url(v6, port), dialPort: port })
        lines.push({ ok: true, text: `pinhole ipv6 ${url(v6, port)} verified` })
      } else {
        lines.push({ ok: false, text: `pinhole ipv6 ${url(v6, port)} opened but ${r.error ?? 'not reachable'}` })
      }
    } catch (err) {
      lines.push({ ok: false, text: `pinhole ipv6 ${errorMessage(err)}` })
    }
  }
  const closeAll = async (): Promise<void> => { await Promise.all(leases.map(async l => { await l.close() })) }
  const first = verified[0]
  if (first === undefined) {
    await closeAll()
    return { lines }
  }
  return {
    lines,
    active: {
      rung: 'upnp_mapped',
      endpoint: first.url,
      transportMethod: 'upnp_mapped',
      exposureMode: modeOf(verified),
      metadata: {
        rung: 'upnp_mapped',
        candidates: verified.map(v => v.url),
        ...(mapping === undefined ? {} : { gateway: mapping.kind, external_port: mapping.externalPort }),
        ...(verified.some(v => v.family === 6) ? { ipv6_pinhole: true } : {})
      },
      check: async s => {
        // A lease the router no longer renews is gone whenever the router says so, even while it still forwards.
        const expired = leases.find(l => l.expiresAt !== undefined && l.expiresAt < Date.now())
        if (expired !== undefined) return `upnp ${expired.kind} lease expired (renewal failed)`
        return await recheck(ctx, verified, 'upnp', s)
      },
      state: () => ({ candidates: verified.map(v => v.url), leases: leases.map(leaseState) }),
      pinholes: pinholed === undefined ? [] : [pinholed],
      close: closeAll
    }
  }
}

/** Rung 3: bind to the first relay that accepts, starting after `skip` (a relay that just failed). */
export async function tryRelay (ctx: RungContext, signal: AbortSignal, skip?: string): Promise<RungOutcome> {
  const lines: RungLine[] = []
  let candidates: RelayCandidate[]
  try {
    candidates = await ctx.relays(signal)
  } catch (err) {
    return { lines: [{ ok: false, text: `relay no relay known (${errorMessage(err)})` }] }
  }
  if (candidates.length === 0) return { lines: [{ ok: false, text: 'relay no relay known (give --relay or --directory)' }] }
  const at = skip === undefined ? -1 : candidates.findIndex(c => candidateLabel(c) === skip)
  const ordered = at < 0 ? candidates : [...candidates.slice(at + 1), ...candidates.slice(0, at + 1)]
  for (const c of ordered) {
    if (signal.aborted) break
    let bound: BoundRelay
    try {
      bound = await ctx.bindRelay(c, signal)
    } catch (err) {
      lines.push({ ok: false, text: `relay ${candidateLabel(c)} ${errorMessage(err)}` })
      continue
    }
    lines.push({ ok: true, text: `relay ${candidateLabel(c)} bound` })
    const label = candidateLabel(c)
    return {
      lines,
      active: {
        rung: 'relay',
        endpoint: bound.endpoint,
        transportMethod: 'turn_relay',
        exposureMode: 'relay_required',
        metadata: { rung: 'relay', relay_endpoint: bound.endpoint, relay: label, ...(c.nodeId === undefined ? {} : { relay_node_id: c.nodeId }), candidates: [bound.endpoint] },
        check: async () => await Promise.resolve(bound.bound() ? undefined : `relay ${label} session dropped`),
        state: () => ({ relay: label, bound: bound.bound() }),
        close: async () => { await bound.close() }
      }
    }
  }
  return { lines }
}
