/**
 * The I/O side of NAT behaviour discovery (nat/stun/behavior.ts): one session owns every probe
 * socket and every in-flight Binding transaction, bounded by the discovery's deadline, and
 * closes them all at the end. Also the hairpinning test and small helpers over outcomes.
 */
import type { Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import { ErrorCode, errorMessage, isToolkitError } from '../../src/errors.ts'
import { canonicalIp } from '../net/addr.ts'
import type { TransportAddress } from './attributes.ts'
import type { FilterProbe } from './behavior-classify.ts'
import { stunBinding, type StunBindingResult } from './binding.ts'
import { looksLikeStun, newTransactionId } from './codec.ts'
import { closeUdpSocket, openUdpSocket } from './udp.ts'

/** A settled promise. */
export type Outcome<T> = { ok: true, value: T } | { ok: false, error: unknown }

/** Waits for `promise` and returns how it settled; never rejects. */
export async function settle<T> (promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

/** Extra knobs of one Binding request. */
export interface BindingExtra { changeIp?: boolean, changePort?: boolean, transactionId?: Buffer, signal?: AbortSignal }

/** Sends one Binding request from `socket` to `server`, answered before `until` ms into the discovery. */
export type BindingFn = (socket: Socket, server: TransportAddress, until: number, extra?: BindingExtra) => Promise<StunBindingResult>

/** What a session is opened with. */
export interface SessionOptions {
  family: 4 | 6
  localAddress?: string | undefined
  rtoMs: number
  /** The caller's signal; the session adds its own stop signal. */
  signal?: AbortSignal | undefined
  /** Called with each socket error. */
  onSocketError: (err: Error) => void
}

/** The sockets and transactions of one discovery. */
export interface BehaviorSession {
  /** Aborted by the caller or by {@link BehaviorSession.close}. */
  signal: AbortSignal
  /** Opens a probe socket the session closes at the end. */
  openSocket: () => Promise<Socket>
  /** Sends one Binding request (see {@link BindingFn}). */
  binding: BindingFn
  /** Registers a promise the session waits for at close, and returns its outcome. */
  track: <T>(p: Promise<T>) => Promise<Outcome<T>>
  /** Milliseconds left until `until` ms into the discovery. */
  remaining: (until: number) => number
  /** Stops every transaction, waits for them and closes every socket. */
  close: () => Promise<void>
}

/** Opens a session; call close() in a `finally`. */
export function openSession (options: SessionOptions): BehaviorSession {
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  const sockets: Socket[] = []
  const inflight: Array<Promise<unknown>> = []
  const start = performance.now()
  const remaining = (until: number): number => Math.max(0, start + until - performance.now())
  return {
    signal,
    remaining,
    track: <T>(p: Promise<T>): Promise<Outcome<T>> => {
      const settled = settle(p)
      inflight.push(settled)
      return settled
    },
    openSocket: async () => {
      const socket = await openUdpSocket({
        family: options.family,
        ...(options.localAddress === undefined ? {} : { address: options.localAddress }),
        signal,
        onError: options.onSocketError
      })
      sockets.push(socket)
      return socket
    },
    binding: async (socket, server, until, extra = {}) => {
      const changing = extra.changeIp === true || extra.changePort === true
      return await stunBinding({
        socket,
        server,
        rtoMs: options.rtoMs,
        timeoutMs: Math.max(1, remaining(until)),
        signal: extra.signal === undefined ? signal : AbortSignal.any([signal, extra.signal]),
        ...(changing ? { changeRequest: { changeIp: extra.changeIp === true, changePort: extra.changePort === true }, acceptFrom: 'any' as const } : {}),
        ...(extra.transactionId === undefined ? {} : { transactionId: extra.transactionId, acceptFrom: 'any' as const })
      })
    },
    close: async () => {
      stop.abort()
      await Promise.all(inflight)
      await Promise.all(sockets.map(closeUdpSocket))
    }
  }
}

/**
 * Hairpinning: a second socket sends a Binding request to the mapping socket's reflexive address;
 * true when the request reaches the mapping socket before `until`.
 */
export async function hairpinTest (session: BehaviorSession, mappingSocket: Socket, mapped: TransportAddress, until: number, giveUp?: AbortSignal): Promise<boolean> {
  const transactionId = newTransactionId()
  const arrived = new AbortController()
  const onMessage = (msg: Buffer): void => {
    // a Binding request (class bits C1 = byte 0 bit 0, C0 = byte 1 bit 4, both zero) with our id
    if (!looksLikeStun(msg) || !msg.subarray(8, 20).equals(transactionId) || ((msg[0] ?? 0) & 0x01) !== 0 || ((msg[1] ?? 0) & 0x10) !== 0) return
    arrived.abort()
  }
  mappingSocket.on('message', onMessage)
  try {
    const sender = await session.openSocket()
    await settle(session.binding(sender, mapped, until, { transactionId, signal: giveUp === undefined ? arrived.signal : AbortSignal.any([arrived.signal, giveUp]) }))
    return arrived.signal.aborted
  } finally {
    mappingSocket.off('message', onMessage)
  }
}

/** True when the reflexive address is one of this host's own (no NAT). */
export function isLocalAddress (mapped: TransportAddress, local: TransportAddress): boolean {
  if (mapped.port !== local.port) return false
  const ip = canonicalIp(mapped.address)
  if (ip === undefined) return false
  if (canonicalIp(local.address) === ip) return true
  if (local.address !== '0.0.0.0' && local.address !== '::') return false
  if (ip.startsWith('127.') || ip === '::1') return true
  return Object.values(networkInterfaces()).some(list => list?.some(i => canonicalIp(i.address) === ip) === true)
}

/** An error as `CODE: message` when it carries a code. */
export function describeError (error: unknown): string {
  return isToolkitError(error) ? `${error.code}: ${error.message}` : errorMessage(error)
}

/** A filtering test's outcome in the shape classification takes; with `silenceCut`, a test ended early for silence counts as silent. */
export function filterProbe (outcome: Outcome<StunBindingResult> | undefined, silenceCut = false): FilterProbe {
  if (outcome === undefined) return { kind: 'error', message: 'not run' }
  if (outcome.ok) return { kind: 'answered', source: outcome.value.source }
  if (isToolkitError(outcome.error, ErrorCode.StunTimeout)) return { kind: 'silent' }
  if (silenceCut && isToolkitError(outcome.error, ErrorCode.Aborted)) return { kind: 'silent' }
  return { kind: 'error', message: describeError(outcome.error) }
}
