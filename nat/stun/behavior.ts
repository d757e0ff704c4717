/**
 * NAT behaviour discovery (RFC 5780 §4) over UDP: mapping, filtering, hairpinning, port
 * preservation, and "UDP blocked", all inside one overall deadline.
 *
 * Order matters (spec §8.3): the filtering tests run first, each from a fresh socket that only
 * ever sends to the primary address, so no packet to the alternate address can open an
 * address-restricted filter before their answers arrive. The mapping tests to OTHER-ADDRESS run
 * after them. Timeline within `timeoutMs` (T): mapping test I to every server, filtering tests II
 * and III and the hairpin test run concurrently and end by 0.6·T; mapping tests II and III then
 * have until T. A silent network therefore ends at T with `udpBlocked: true`, never an exception.
 */
import type { Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import { abortError, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { ipFamily } from '../../src/host-port.ts'
import { canonicalIp, sameIp } from '../net/addr.ts'
import { formatAddress, type TransportAddress } from './attributes.ts'
import {
  classifyFiltering, classifyMappingAcrossServers, classifyMappingRfc5780,
  type FilterProbe, type NatBehavior
} from './behavior-classify.ts'
import { stunBinding, type StunBindingResult } from './binding.ts'
import { looksLikeStun, newTransactionId } from './codec.ts'
import { DEFAULT_RTO_MS } from './transaction.ts'
import { closeUdpSocket, openUdpSocket } from './udp.ts'

export type { NatBehavior } from './behavior-classify.ts'

/** Default overall deadline of {@link discoverNatBehavior}. */
export const DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS = 2500
/** Share of the deadline given to test I, the filtering tests and the hairpin test. */
const FIRST_PHASE_SHARE = 0.6
/** Most notes kept (socket errors could otherwise add one per datagram). */
const MAX_NOTES = 32
/** Shortest window worth running the hairpinning test in. */
const MIN_HAIRPIN_WINDOW_MS = 50

/** A STUN server to probe: an IP literal (no DNS is done here) and a UDP port. */
export interface StunServerAddress {
  /** IP literal. */
  host: string
  /** UDP port. */
  port: number
}

/** Options for {@link discoverNatBehavior}. */
export interface NatBehaviorOptions {
  /** Servers in order of preference; the first one is the RFC 5780 server (put a two-address server first). */
  servers: StunServerAddress[]
  /** Local IP to bind the probe sockets to. @default the family's wildcard */
  localAddress?: string
  /** Address family; servers of the other family are skipped. @default the first server's family */
  family?: 4 | 6
  /** Overall deadline in ms. @default 2500 */
  timeoutMs?: number
  /** Initial STUN retransmission timeout in ms. @default 500 */
  rtoMs?: number
  /** Cancels the discovery (rejects with ERR_ABORTED). */
  signal?: AbortSignal
  /** Run the hairpinning test. @default true */
  hairpin?: boolean
}

/** Per-server outcome. */
export interface NatBehaviorServerResult {
  /** `ip:port` of the server. */
  server: string
  /** True when the server answered (success or error response) to mapping test I. */
  responded: boolean
  /** Reflexive address it reported. */
  mapped?: string
  /** Its OTHER-ADDRESS, if any. */
  otherAddress?: string
  /** Round-trip time of test I. */
  rttMs?: number
  /** Why it gave no mapped address. */
  error?: string
}

/** The measured NAT behaviour. */
export interface NatBehaviorResult {
  /** True when no server answered at all within the deadline. */
  udpBlocked: boolean
  /** The mapping socket's bound address. */
  local?: TransportAddress
  /** Reflexive address from the first answering server. */
  mapped?: TransportAddress
  /** The RFC 5780 server's OTHER-ADDRESS. */
  otherAddress?: TransportAddress
  /** Mapping behaviour; 'none' when the reflexive address is a local address. */
  mapping: NatBehavior
  /** Filtering behaviour (RFC 5780 tests II/III); 'unknown' without an RFC 5780 server. */
  filtering: NatBehavior
  /** Whether a packet from a second socket to the reflexive address reached the mapping socket. */
  hairpinning: boolean | undefined
  /** Whether the reflexive port equals the local port. */
  portPreserving: boolean | undefined
  /** How the mapping was classified. */
  method: 'rfc5780' | 'two_servers' | 'none'
  /** Per-server outcomes, in the order given. */
  servers: NatBehaviorServerResult[]
  /** Human-readable explanations and caveats. */
  notes: string[]
}

type Outcome<T> = { ok: true, value: T } | { ok: false, error: unknown }

async function settle<T> (promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

function isLocalAddress (mapped: TransportAddress, local: TransportAddress): boolean {
  if (mapped.port !== local.port) return false
  const ip = canonicalIp(mapped.address)
  if (ip === undefined) return false
  if (canonicalIp(local.address) === ip) return true
  if (local.address !== '0.0.0.0' && local.address !== '::') return false
  if (ip.startsWith('127.') || ip === '::1') return true
  return Object.values(networkInterfaces()).some(list => list?.some(i => canonicalIp(i.address) === ip) === true)
}

function validServers (options: NatBehaviorOptions, family: 4 | 6, notes: string[]): { usable: TransportAddress[], results: NatBehaviorServerResult[] } {
  const usable: TransportAddress[] = []
  const results: NatBehaviorServerResult[] = []
  for (const s of options.servers) {
    const f = ipFamily(s.host)
    if (f === undefined) throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server host must be an IP literal, got ${s.host}`)
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 0xffff) throw new ToolkitError(ErrorCode.InvalidAddress, `STUN server port out of range: ${s.port}`)
    const addr = { address: s.host, port: s.port }
    if (f !== family) {
      notes.push(`skipped ${formatAddress(addr)}: not IPv${family}`)
      results.push({ server: formatAddress(addr), responded: false, error: `not IPv${family}` })
    } else {
      usable.push(addr)
    }
  }
  if (usable.length === 0) throw new ToolkitError(ErrorCode.InvalidConfig, `no IPv${family} STUN server given`)
  return { usable, results }
}

function describeError (error: unknown): string {
  return isToolkitError(error) ? `${error.code}: ${error.message}` : errorMessage(error)
}

function filterProbe (outcome: Outcome<StunBindingResult> | undefined): FilterProbe {
  if (outcome === undefined) return { kind: 'error', message: 'not run' }
  if (outcome.ok) return { kind: 'answered', source: outcome.value.source }
  if (isToolkitError(outcome.error, ErrorCode.StunTimeout)) return { kind: 'silent' }
  return { kind: 'error', message: describeError(outcome.error) }
}

/**
 * Measures the NAT's mapping and filtering behaviour (RFC 5780 §4.3, §4.4), hairpinning and
 * port preservation against the given servers. Never throws because UDP is blocked or servers are
 * silent (that gives `udpBlocked: true` and 'unknown' behaviours); throws ERR_ABORTED on abort and
 * ERR_INVALID_ADDRESS / ERR_INVALID_CONFIG for bad options.
 */
export async function discoverNatBehavior (options: NatBehaviorOptions): Promise<NatBehaviorResult> {
  const first = options.servers[0]
  const family = options.family ?? (first === undefined ? undefined : ipFamily(first.host)) ?? 4
  const notes: string[] = []
  const { usable, results: skipped } = validServers(options, family, notes)
  const timeoutMs = options.timeoutMs ?? DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS
  const rtoMs = options.rtoMs ?? DEFAULT_RTO_MS
  if (!(timeoutMs > 0) || !(rtoMs > 0)) throw new ToolkitError(ErrorCode.InvalidConfig, 'timeoutMs and rtoMs must be positive')
  if (options.localAddress !== undefined && ipFamily(options.localAddress) !== family) {
    throw new ToolkitError(ErrorCode.InvalidAddress, `localAddress ${options.localAddress} is not an IPv${family} literal`)
  }
  throwIfAborted(options.signal, 'NAT behaviour discovery')

  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  const sockets: Socket[] = []
  const inflight: Array<Promise<unknown>> = []
  const track = <T>(p: Promise<T>): Promise<Outcome<T>> => {
    const settled = settle(p)
    inflight.push(settled)
    return settled
  }
  const openSocket = async (): Promise<Socket> => {
    const socket = await openUdpSocket({
      family,
      ...(options.localAddress === undefined ? {} : { address: options.localAddress }),
      signal,
      onError: (err) => { if (notes.length < MAX_NOTES) notes.push(`socket error: ${err.message}`) }
    })
    sockets.push(socket)
    return socket
  }
  const start = performance.now()
  const remaining = (until: number): number => Math.max(0, start + until - performance.now())
  const phaseOneMs = timeoutMs * FIRST_PHASE_SHARE
  const binding: BindingFn = async (socket, server, until, extra = {}) => {
    const changing = extra.changeIp === true || extra.changePort === true
    return await stunBinding({
      socket,
      server,
      rtoMs,
      timeoutMs: Math.max(1, remaining(until)),
      signal: extra.signal === undefined ? signal : AbortSignal.any([signal, extra.signal]),
      ...(changing ? { changeRequest: { changeIp: extra.changeIp === true, changePort: extra.changePort === true }, acceptFrom: 'any' as const } : {}),
      ...(extra.transactionId === undefined ? {} : { transactionId: extra.transactionId, acceptFrom: 'any' as const })
    })
  }

  try {
    const mappingSocket = await openSocket()
    const bound = mappingSocket.address()
    const local = { address: bound.address, port: bound.port }
    const primary = usable[0] as TransportAddress

    // Phase 1: test I to every server; filtering tests II and III from fresh sockets to the primary only.
    const testI = usable.map(server => track(binding(mappingSocket, server, timeoutMs)))
    const settledI: Array<Outcome<StunBindingResult> | undefined> = usable.map(() => undefined)
    testI.forEach((p, i) => { void p.then(o => { settledI[i] = o }) })
    const filterII = track(openSocket().then(async s => await binding(s, primary, phaseOneMs, { changeIp: true, changePort: true })))
    const filterIII = track(openSocket().then(async s => await binding(s, primary, phaseOneMs, { changePort: true })))

    const primaryI = await (testI[0] as Promise<Outcome<StunBindingResult>>)
    const anchor = primaryI.ok ? primaryI.value : undefined
    const runHairpin = options.hairpin !== false && anchor !== undefined
    if (runHairpin && remaining(phaseOneMs) < MIN_HAIRPIN_WINDOW_MS) notes.push('no time left for the hairpinning test')
    const hairpin = runHairpin && remaining(phaseOneMs) >= MIN_HAIRPIN_WINDOW_MS
      ? track(hairpinTest(mappingSocket, anchor.mapped, openSocket, binding, phaseOneMs))
      : undefined
    const [fII, fIII] = await Promise.all([filterII, filterIII])
    throwIfAborted(options.signal)

    const other = anchor?.otherAddress
    const rfc5780 = anchor !== undefined && other !== undefined && other.family === family &&
      !sameIp(other.address, primary.address) && other.port !== primary.port
    if (anchor !== undefined && other !== undefined && !rfc5780) notes.push(`OTHER-ADDRESS ${formatAddress(other)} of ${formatAddress(primary)} is unusable (same IP or port, or other family)`)
    if (rfc5780 && usable.slice(1).some(s => sameIp(s.address, other.address))) {
      notes.push('another server shares the alternate IP: an address-restricted filter may already have been opened, filtering may read too open')
    }

    // Phase 2: mapping tests II and III to OTHER-ADDRESS, only after the filtering tests ended.
    let mapping: NatBehavior = 'unknown'
    let method: NatBehaviorResult['method'] = 'none'
    let filtering: NatBehavior = 'unknown'
    if (rfc5780) {
      method = 'rfc5780'
      const filter = classifyFiltering(primary, filterProbe(fII), filterProbe(fIII))
      filtering = filter.behavior
      notes.push(...filter.notes)
      if (isLocalAddress(anchor.mapped, local)) {
        mapping = 'none'
      } else if (remaining(timeoutMs) <= 0) {
        notes.push('no time left for mapping tests II and III')
      } else {
        const [mII, mIII] = await Promise.all([
          track(binding(mappingSocket, { address: other.address, port: primary.port }, timeoutMs)),
          track(binding(mappingSocket, other, timeoutMs))
        ])
        const m = classifyMappingRfc5780(anchor.mapped, mII.ok ? mII.value.mapped : undefined, mIII.ok ? mIII.value.mapped : undefined)
        mapping = m.behavior
        notes.push(...m.notes)
      }
    }
    // RFC 5780 needs only the primary's test I; other servers count if they answered by now.
    const allI = rfc5780 ? [...settledI] : await Promise.all(testI)
    throwIfAborted(options.signal)
    const answers = usable.flatMap((server, i) => {
      const o = allI[i]
      return o?.ok === true ? [{ server, mapped: o.value.mapped }] : []
    })
    const firstAnswer = anchor ?? allI.find((o): o is { ok: true, value: StunBindingResult } => o?.ok === true)?.value
    if (!rfc5780) {
      if (anchor !== undefined && other === undefined) notes.push(`${formatAddress(primary)} gives no OTHER-ADDRESS: filtering not measured`)
      if (firstAnswer !== undefined && isLocalAddress(firstAnswer.mapped, local)) {
        mapping = 'none'
        method = answers.length >= 2 ? 'two_servers' : 'none'
      } else if (answers.length >= 2) {
        const m = classifyMappingAcrossServers(answers)
        method = 'two_servers'
        mapping = m.behavior
        notes.push(...m.notes)
      } else if (firstAnswer !== undefined) {
        notes.push('mapping behaviour needs OTHER-ADDRESS or answers from two servers')
      }
    }
    const responded = allI.map(o => o !== undefined && (o.ok || isToolkitError(o.error, ErrorCode.StunErrorResponse)))
    const udpBlocked = !responded.some(Boolean)
    if (udpBlocked) notes.push(`no STUN answer from any server within ${timeoutMs} ms: UDP blocked or servers unreachable`)
    if (mapping === 'none') notes.push('no NAT: the reflexive address is a local address')
    if (firstAnswer?.algSuspected === true) notes.push('MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS: an ALG may rewrite addresses')
    const hairpinOutcome = hairpin === undefined ? undefined : await hairpin
    throwIfAborted(options.signal)

    const servers = usable.map((server, i): NatBehaviorServerResult => {
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
    return {
      udpBlocked,
      local,
      ...(firstAnswer === undefined ? {} : { mapped: { address: firstAnswer.mapped.address, port: firstAnswer.mapped.port } }),
      ...(rfc5780 ? { otherAddress: { address: other.address, port: other.port } } : {}),
      mapping: udpBlocked ? 'unknown' : mapping,
      filtering: udpBlocked ? 'unknown' : filtering,
      hairpinning: hairpinOutcome?.ok === true ? hairpinOutcome.value : undefined,
      portPreserving: firstAnswer === undefined ? undefined : firstAnswer.mapped.port === local.port,
      method: udpBlocked ? 'none' : method,
      servers: [...servers, ...skipped],
      notes
    }
  } catch (err) {
    if (options.signal?.aborted === true) throw abortError(options.signal, 'NAT behaviour discovery')
    throw err
  } finally {
    stop.abort()
    await Promise.all(inflight)
    await Promise.all(sockets.map(closeUdpSocket))
  }
}

interface BindingExtra { changeIp?: boolean, changePort?: boolean, transactionId?: Buffer, signal?: AbortSignal }
type BindingFn = (socket: Socket, server: TransportAddress, until: number, extra?: BindingExtra) => Promise<StunBindingResult>

/**
 * Hairpinning: a second socket sends a Binding request to the mapping socket's reflexive address;
 * true when the request reaches the mapping socket before `until`.
 */
async function hairpinTest (mappingSocket: Socket, mapped: TransportAddress, openSocket: () => Promise<Socket>, binding: BindingFn, until: number): Promise<boolean> {
  const transactionId = newTransactionId()
  const arrived = new AbortController()
  const onMessage = (msg: Buffer): void => {
    // a Binding request (class bits C1 = byte 0 bit 0, C0 = byte 1 bit 4, both zero) with our id
    if (!looksLikeStun(msg) || !msg.subarray(8, 20).equals(transactionId) || ((msg[0] ?? 0) & 0x01) !== 0 || ((msg[1] ?? 0) & 0x10) !== 0) return
    arrived.abort()
  }
  mappingSocket.on('message', onMessage)
  try {
    const sender = await openSocket()
    await settle(binding(sender, mapped, until, { transactionId, signal: arrived.signal }))
    return arrived.signal.aborted
  } finally {
    mappingSocket.off('message', onMessage)
  }
}
