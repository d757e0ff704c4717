/**
 * NAT behaviour discovery (RFC 5780 §4) over UDP: mapping, filtering, hairpinning, port
 * preservation, and "UDP blocked", all inside one overall deadline.
 *
 * Order matters (spec §8.3): the filtering tests run first, each from a fresh socket that only
 * ever sends to the primary address, so no packet to the alternate address can open an
 * address-restricted filter before their answers arrive. The mapping tests to OTHER-ADDRESS run
 * after them. Timeline within `timeoutMs` (T): mapping test I to every server, filtering tests II
 * and III and the hairpin test run concurrently and end by 0.6·T; mapping tests II and III then
 * have until T. When no server has answered test I by 0.6·T (three sends each), the network is
 * silent and discovery ends there with `udpBlocked: true` (or `serversUnreachable`), never an exception.
 *
 * Silence is weak evidence, so a filtering verdict that rests on a missing answer is measured
 * {@link FILTER_ROUNDS} times at once (independent fresh sockets, each with retransmissions);
 * any answer is proof and wins, and `confidence` says how many rounds agreed. Once test I has
 * answered, silence is believed after {@link SILENCE_RTTS} round trips (at least
 * {@link MIN_SILENCE_MS}), so a quiet filter does not hold the probe until 0.6·T on a fast path
 * while a slow, lossy path still gets the whole window. "UDP blocked" needs at least two servers
 * that all stayed silent; one silent server is reported as unreachable (`serversUnreachable`).
 */
import type { Socket } from 'node:dgram'
import { abortError, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../../src/errors.ts'
import { ipFamily } from '../../src/host-port.ts'
import { sameIp } from '../net/addr.ts'
import { formatAddress, type TransportAddress } from './attributes.ts'
import { classifyFiltering, classifyMappingAcrossServers, classifyMappingRfc5780, type NatBehavior } from './behavior-classify.ts'
import {
  describeError, filterProbe, hairpinTest, isLocalAddress, openSession, type BehaviorSession, type Outcome
} from './behavior-session.ts'
import type { StunBindingResult } from './binding.ts'
import { DEFAULT_RTO_MS } from './transaction.ts'
import type { NatBehaviorConfidence, NatBehaviorOptions, NatBehaviorResult, NatBehaviorServerResult } from './behavior-types.ts'

export type { NatBehavior } from './behavior-classify.ts'

/** Default overall deadline of {@link discoverNatBehavior}. */
export const DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS = 2500
/** Share of the deadline given to test I, the filtering tests and the hairpin test. */
const FIRST_PHASE_SHARE = 0.6
/** Most notes kept (socket errors could otherwise add one per datagram). */
const MAX_NOTES = 32
/** Shortest window worth running the hairpinning test in. */
const MIN_HAIRPIN_WINDOW_MS = 50
/** Independent rounds of filtering tests II and III (run concurrently). */
export const FILTER_ROUNDS = 2
/** Silence is believed after this many of test I's round trips … */
const SILENCE_RTTS = 8
/** … but never before this (two retransmissions at the default RTO, plus slack for a loaded host). */
const MIN_SILENCE_MS = 1000
/** Servers that must all stay silent before UDP counts as blocked. */
const UDP_BLOCKED_QUORUM = 2

export type { NatBehaviorConfidence, NatBehaviorOptions, NatBehaviorResult, NatBehaviorServerResult, StunServerAddress } from './behavior-types.ts'

/** The validated options. */
interface Settings {
  family: 4 | 6
  /** Servers of the family, in order; the first is the RFC 5780 server. */
  usable: TransportAddress[]
  /** Results for servers of the other family (reported, not probed). */
  skipped: NatBehaviorServerResult[]
  timeoutMs: number
  rtoMs: number
  notes: string[]
}

function validate (options: NatBehaviorOptions): Settings {
  const first = options.servers[0]
  const family = options.family ?? (first === undefined ? undefined : ipFamily(first.host)) ?? 4
  const notes: string[] = []
  const usable: TransportAddress[] = []
  const skipped: NatBehaviorServerResult[] = []
  for (const s of options.servers) {
    const f = ipFamily(s.host)
    if (f === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server host must be an IP literal, got ${s.host}`)
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 0xffff) throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server port out of range: ${s.port}`)
    const addr = { address: s.host, port: s.port }
    if (f !== family) {
      notes.push(`skipped ${formatAddress(addr)}: not IPv${family}`)
      skipped.push({ server: formatAddress(addr), responded: false, error: `not IPv${family}` })
    } else {
      usable.push(addr)
    }
  }
  if (usable.length === 0) throw new ToolkitError(ErrorCode.InvalidConfig, `no IPv${family} STUN server given`)
  const timeoutMs = options.timeoutMs ?? DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS
  const rtoMs = options.rtoMs ?? DEFAULT_RTO_MS
  if (!(timeoutMs > 0) || !(rtoMs > 0)) throw new ToolkitError(ErrorCode.InvalidConfig, 'timeoutMs and rtoMs must be positive')
  if (options.localAddress !== undefined && ipFamily(options.localAddress) !== family) {
    throw new ToolkitError(ErrorCode.InvalidAddress, `localAddress ${options.localAddress} is not an IPv${family} literal`)
  }
  return { family, usable, skipped, timeoutMs, rtoMs, notes }
}

/** What phase 1 measured. */
interface PhaseOne {
  /** Mapping test I per server. */
  testI: Array<Promise<Outcome<StunBindingResult>>>
  /** Test I outcomes that have settled so far (filled in as they settle). */
  settledI: Array<Outcome<StunBindingResult> | undefined>
  /** The primary's test I answer. */
  anchor: StunBindingResult | undefined
  /** Filtering tests II and III, one pair per round. */
  filterRounds: Array<{ ii: Outcome<StunBindingResult>, iii: Outcome<StunBindingResult> }>
  /** Silence was cut short once enough round trips had passed (aborted tests count as silent). */
  silenceCut: boolean
  /** The hairpinning test, still running. */
  hairpin: Promise<Outcome<boolean>> | undefined
  notes: string[]
}

/** Phase 1: test I to every server; filtering tests II and III from fresh sockets to the primary only; hairpinning. */
async function phaseOne (session: BehaviorSession, s: Settings, mappingSocket: Socket, hairpin: boolean): Promise<PhaseOne> {
  const notes: string[] = []
  const primary = s.usable[0] as TransportAddress
  const phaseOneMs = s.timeoutMs * FIRST_PHASE_SHARE
  // Test I ends at the end of phase one when no server has answered by then (three sends each): a silent network.
  const silentNetwork = new AbortController()
  const testI = s.usable.map(server => session.track(session.binding(mappingSocket, server, s.timeoutMs, { signal: silentNetwork.signal })))
  const settledI: Array<Outcome<StunBindingResult> | undefined> = s.usable.map(() => undefined)
  testI.forEach((p, i) => { void p.then(o => { settledI[i] = o }) })
  // Ends the wait for silent filtering and hairpin tests once enough round trips have passed.
  const silence = new AbortController()
  const quiet = { signal: silence.signal }
  const rounds = Array.from({ length: FILTER_ROUNDS }, () => Promise.all([
    session.track(session.openSocket().then(async sock => await session.binding(sock, primary, phaseOneMs, { changeIp: true, changePort: true, ...quiet }))),
    session.track(session.openSocket().then(async sock => await session.binding(sock, primary, phaseOneMs, { changePort: true, ...quiet })))
  ]))

  const started = performance.now()
  const quietTimer = setTimeout(() => {
    if (!settledI.some(o => o?.ok === true)) silentNetwork.abort(new ToolkitError(ErrorCode.StunTimeout, `no answer from any server within ${Math.round(phaseOneMs)} ms`))
  }, Math.max(0, session.remaining(phaseOneMs)))
  let timer: NodeJS.Timeout | undefined
  try {
    const primaryI = await (testI[0] as Promise<Outcome<StunBindingResult>>)
    const anchor = primaryI.ok ? primaryI.value : undefined
    if (anchor !== undefined) {
      const waitMs = Math.max(MIN_SILENCE_MS, SILENCE_RTTS * anchor.rttMs) - (performance.now() - started)
      timer = setTimeout(() => { silence.abort() }, Math.max(0, waitMs))
    }
    const runHairpin = hairpin && anchor !== undefined
    const hairpinFits = session.remaining(phaseOneMs) >= MIN_HAIRPIN_WINDOW_MS
    if (runHairpin && !hairpinFits) notes.push('no time left for the hairpinning test')
    const hairpinTask = runHairpin && hairpinFits ? session.track(hairpinTest(session, mappingSocket, anchor.mapped, phaseOneMs, silence.signal)) : undefined
    const filterRounds = (await Promise.all(rounds)).map(([ii, iii]) => ({ ii, iii }))
    return { testI, settledI, anchor, filterRounds, silenceCut: silence.signal.aborted, hairpin: hairpinTask, notes }
  } finally {
    clearTimeout(timer)
    clearTimeout(quietTimer)
  }
}

/** Filtering from every round: an answer is proof, so the most open round wins; confidence counts the rounds that agree. */
function combineFiltering (primary: TransportAddress, one: PhaseOne): { behavior: NatBehavior, notes: string[], confidence: NatBehaviorConfidence } {
  const verdicts = one.filterRounds.map(r => classifyFiltering(primary, filterProbe(r.ii, one.silenceCut), filterProbe(r.iii, one.silenceCut)))
  const order: NatBehavior[] = ['endpoint_independent', 'address_dependent', 'address_and_port_dependent']
  const best = order.find(b => verdicts.some(v => v.behavior === b)) ?? 'unknown'
  const chosen = verdicts.find(v => v.behavior === best) ?? verdicts[0] ?? { behavior: 'unknown' as const, notes: [] }
  const agreeing = verdicts.filter(v => v.behavior === best).length
  const restsOnAnswer = best === 'endpoint_independent'
  const level = best === 'unknown' ? 'none' : restsOnAnswer || agreeing >= 2 ? 'high' : 'low'
  const notes = [...chosen.notes]
  if (level === 'low') notes.push(`filtering: only ${agreeing} of ${verdicts.length} rounds read ${best}; a lost answer may explain it`)
  return { behavior: chosen.behavior, notes, confidence: { filtering: level, filteringRounds: verdicts.length, filteringAgreeing: agreeing } }
}

/** The primary's OTHER-ADDRESS when it makes an RFC 5780 server (same family, other IP and port). */
function rfc5780Other (s: Settings, anchor: StunBindingResult | undefined): { other: TransportAddress | undefined, notes: string[] } {
  const primary = s.usable[0] as TransportAddress
  const other = anchor?.otherAddress
  if (anchor === undefined || other === undefined) return { other: undefined, notes: [] }
  if (other.family !== s.family || sameIp(other.address, primary.address) || other.port === primary.port) {
    return { other: undefined, notes: [`OTHER-ADDRESS ${formatAddress(other)} of ${formatAddress(primary)} is unusable (same IP or port, or other family)`] }
  }
  const shared = s.usable.slice(1).some(x => sameIp(x.address, other.address))
  return { other, notes: shared ? ['another server shares the alternate IP: an address-restricted filter may already have been opened, filtering may read too open'] : [] }
}

/** Mapping and filtering behaviour, how the mapping was measured, and notes. */
interface Verdict { mapping: NatBehavior, filtering: NatBehavior, method: NatBehaviorResult['method'], notes: string[], confidence?: NatBehaviorConfidence }

/** Phase 2 with an RFC 5780 server: filtering from tests II/III, then mapping tests II and III to OTHER-ADDRESS. */
async function rfc5780Verdict (session: BehaviorSession, s: Settings, mappingSocket: Socket, local: TransportAddress, one: PhaseOne, other: TransportAddress): Promise<Verdict> {
  const primary = s.usable[0] as TransportAddress
  const anchor = one.anchor as StunBindingResult
  const filter = combineFiltering(primary, one)
  const base = { filtering: filter.behavior, method: 'rfc5780' as const, confidence: filter.confidence }
  if (isLocalAddress(anchor.mapped, local)) return { ...base, mapping: 'none', notes: filter.notes }
  if (session.remaining(s.timeoutMs) <= 0) return { ...base, mapping: 'unknown', notes: [...filter.notes, 'no time left for mapping tests II and III'] }
  const [mII, mIII] = await Promise.all([
    session.track(session.binding(mappingSocket, { address: other.address, port: primary.port }, s.timeoutMs)),
    session.track(session.binding(mappingSocket, other, s.timeoutMs))
  ])
  const m = classifyMappingRfc5780(anchor.mapped, mII.ok ? mII.value.mapped : undefined, mIII.ok ? mIII.value.mapped : undefined)
  return { ...base, mapping: m.behavior, notes: [...filter.notes, ...m.notes] }
}

/** Without an RFC 5780 server: mapping from two servers' answers; filtering is not measured. */
function twoServerVerdict (s: Settings, one: PhaseOne, local: TransportAddress, answers: Array<{ server: TransportAddress, mapped: TransportAddress }>, firstAnswer: StunBindingResult | undefined): Verdict {
  const notes: string[] = []
  if (one.anchor !== undefined && one.anchor.otherAddress === undefined) notes.push(`${formatAddress(s.usable[0] as TransportAddress)} gives no OTHER-ADDRESS: filtering not measured`)
  if (firstAnswer !== undefined && isLocalAddress(firstAnswer.mapped, local)) {
    return { mapping: 'none', filtering: 'unknown', method: answers.length >= 2 ? 'two_servers' : 'none', notes }
  }
  if (answers.length >= 2) {
    const m = classifyMappingAcrossServers(answers)
    return { mapping: m.behavior, filtering: 'unknown', method: 'two_servers', notes: [...notes, ...m.notes] }
  }
  if (firstAnswer !== undefined) notes.push('mapping behaviour needs OTHER-ADDRESS or answers from two servers')
  return { mapping: 'unknown', filtering: 'unknown', method: 'none', notes }
}

function serverResults (usable: TransportAddress[], allI: Array<Outcome<StunBindingResult> | undefined>, responded: boolean[]): NatBehaviorServerResult[] {
  return usable.map((server, i): NatBehaviorServerResult => {
    const o = allI[i]
    const entry: NatBehaviorServerResult = { server: formatAddress(server), responded: responded[i] === true }
    if (o === undefined) return { ...entry, error: 'no answer before the discovery finished' }
    if (!o.ok) return { ...entry, error: describeError(o.error) }
    return {
      ...entry,
      mapped: formatAddress(o.value.mapped),
      ...(o.value.otherAddress === undefined ? {} : { otherAddress: formatAddress(o.value.otherAddress) }),
      rttMs: Math.round(o.value.rttMs * 10) / 10
    }
  })
}

/**
 * Measures the NAT's mapping and filtering behaviour (RFC 5780 §4.3, §4.4), hairpinning and
 * port preservation against the given servers. Never throws because UDP is blocked or servers are
 * silent (that gives `udpBlocked: true` and 'unknown' behaviours); throws ERR_ABORTED on abort and
 * ERR_INVALID_ADDRESS / ERR_INVALID_CONFIG for bad options.
 */
export async function discoverNatBehavior (options: NatBehaviorOptions): Promise<NatBehaviorResult> {
  const s = validate(options)
  const notes = s.notes
  throwIfAborted(options.signal, 'NAT behaviour discovery')
  const session = openSession({
    family: s.family, localAddress: options.localAddress, rtoMs: s.rtoMs, signal: options.signal,
    onSocketError: err => { if (notes.length < MAX_NOTES) notes.push(`socket error: ${err.message}`) }
  })
  try {
    const mappingSocket = await session.openSocket()
    const bound = mappingSocket.address()
    const local = { address: bound.address, port: bound.port }
    const one = await phaseOne(session, s, mappingSocket, options.hairpin !== false)
    notes.push(...one.notes)
    throwIfAborted(options.signal)
    const { other, notes: otherNotes } = rfc5780Other(s, one.anchor)
    notes.push(...otherNotes)

    // Phase 2 (after the filtering tests ended). RFC 5780 needs only the primary's test I;
    // other servers count if they answered by now.
    const early = other === undefined ? undefined : await rfc5780Verdict(session, s, mappingSocket, local, one, other)
    const allI = other === undefined ? await Promise.all(one.testI) : [...one.settledI]
    throwIfAborted(options.signal)
    const answers = s.usable.flatMap((server, i) => {
      const o = allI[i]
      return o?.ok === true ? [{ server, mapped: o.value.mapped }] : []
    })
    const firstAnswer = one.anchor ?? allI.find((o): o is { ok: true, value: StunBindingResult } => o?.ok === true)?.value
    const verdict = early ?? twoServerVerdict(s, one, local, answers, firstAnswer)
    notes.push(...verdict.notes)

    const responded = allI.map(o => o !== undefined && (o.ok || isToolkitError(o.error, ErrorCode.StunErrorResponse)))
    const silent = !responded.some(Boolean)
    const udpBlocked = silent && s.usable.length >= UDP_BLOCKED_QUORUM
    if (udpBlocked) notes.push(`no STUN answer from any of ${s.usable.length} servers within ${s.timeoutMs} ms: outbound UDP is blocked`)
    else if (silent) notes.push(`no STUN answer from ${formatAddress(s.usable[0] as TransportAddress)} within ${s.timeoutMs} ms: the server is unreachable (one silent server does not show that UDP is blocked)`)
    if (verdict.mapping === 'none') notes.push('no NAT: the reflexive address is a local address')
    if (firstAnswer?.algSuspected === true) notes.push('MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS: an ALG may rewrite addresses')
    const hairpinOutcome = one.hairpin === undefined ? undefined : await one.hairpin
    throwIfAborted(options.signal)
    return {
      udpBlocked,
      serversUnreachable: silent && !udpBlocked,
      confidence: silent || verdict.confidence === undefined ? { filtering: 'none', filteringRounds: 0, filteringAgreeing: 0 } : verdict.confidence,
      local,
      ...(firstAnswer === undefined ? {} : { mapped: { address: firstAnswer.mapped.address, port: firstAnswer.mapped.port } }),
      ...(other === undefined ? {} : { otherAddress: { address: other.address, port: other.port } }),
      mapping: silent ? 'unknown' : verdict.mapping,
      filtering: silent ? 'unknown' : verdict.filtering,
      hairpinning: hairpinOutcome?.ok === true ? hairpinOutcome.value : undefined,
      portPreserving: firstAnswer === undefined ? undefined : firstAnswer.mapped.port === local.port,
      method: silent ? 'none' : verdict.method,
      servers: [...serverResults(s.usable, allI, responded), ...s.skipped],
      notes
    }
  } catch (err) {
    if (options.signal?.aborted === true) throw abortError(options.signal, 'NAT behaviour discovery')
    throw err
  } finally {
    await session.close()
  }
}
