/**
 * The reachability ladder, kept: climb direct → upnp_mapped → relay and stop at the first rung
 * that verifies; re-check it every `recheckMs` and at once on a trigger (lease renewal failed,
 * reflector no longer reaches, local address appeared or vanished, relay session dropped).
 * Down moves happen at once, and the lower rung is published before the failed one is released
 * (tasks running there finish there). Up moves need two verifications of the higher rung at
 * least `upMinSpacingMs` apart and happen at most once per `upCooldownMs`. With nothing working
 * for `giveUpAfterMs`, a supervised ladder emits `give-up` (the CLI exits 75, nat-module.md §2.5
 * step 9). Every operation runs on one queue, so checks and moves never overlap.
 */
import { EventEmitter } from 'node:events'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import { RUNGS, tryDirect, tryMapped, tryRelay, type ActiveRung, type Rung, type RungContext, type RungLine, type RungOutcome } from './rungs.ts'

/** The ladder's intervals (all configurable, so tests run fast). */
export interface LadderTimings {
  /** Re-verify the serving rung this often. @default 600_000 */
  recheckMs: number
  /** Try the rungs above the serving one this often. @default 120_000 */
  upProbeMs: number
  /** Two verifications of a higher rung must be at least this far apart. @default 60_000 */
  upMinSpacingMs: number
  /** At most one up move per this period. @default 600_000 */
  upCooldownMs: number
  /** With no rung working, climb again after this. @default 10_000 */
  retryMs: number
  /** Supervised: give up after this long without any rung. @default 600_000 */
  giveUpAfterMs: number
  /** Look for local address changes this often. @default 5_000 */
  addressPollMs: number
}

/** Defaults of {@link LadderTimings}. */
export const DEFAULT_LADDER_TIMINGS: LadderTimings = {
  recheckMs: 600_000, upProbeMs: 120_000, upMinSpacingMs: 60_000, upCooldownMs: 600_000, retryMs: 10_000, giveUpAfterMs: 600_000, addressPollMs: 5_000
}

/** One move between rungs. */
export interface Transition {
  from: Rung | null
  to: Rung | null
  endpoint: string | null
  reason: string
  at: string
}

/** Events of a {@link Ladder}. */
export interface LadderEvents {
  /** A rung tried (✓ or ✗), or a state line. */
  line: [line: RungLine]
  /** The serving rung changed (or was lost: `to` null). */
  change: [t: Transition]
  /** Supervised and nothing worked for `giveUpAfterMs`. */
  'give-up': []
}

/** Options for {@link Ladder}. */
export interface LadderOptions {
  ctx: RungContext
  timings: LadderTimings
  /** Tells the directory about a new serving rung; resolves with a refusal reason, or undefined when accepted or pending. */
  publish: (active: ActiveRung) => Promise<string | undefined>
  /** Tells the directory nothing serves. */
  unpublish: () => void
  supervised: boolean
  logger: Logger
  /** Joins a local address list into a comparable key (the capability's own order is kept). */
  addressKey: () => string
}

const STOPPED = (): ToolkitError => new ToolkitError(ErrorCode.Aborted, 'ladder stopped')

/** The ladder state machine. */
export class Ladder extends EventEmitter<LadderEvents> {
  readonly #o: LadderOptions
  readonly #stop = new AbortController()
  #queue: Promise<void> = Promise.resolve()
  #current: ActiveRung | undefined
  #checkQueued = false
  #unreachableSince: number | undefined
  /** performance.now() when the ladder became unreachable: durations use the monotonic clock, not the wall clock. */
  #unreachableAt: number | undefined
  #lastUpMove: number | undefined
  readonly #upSeen = new Map<Rung, number>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #retry: NodeJS.Timeout | undefined
  #addresses = ''
  readonly transitions: Transition[] = []

  constructor (options: LadderOptions) {
    super()
    this.#o = options
  }

  /** The serving rung, if any. */
  get current (): ActiveRung | undefined { return this.#current }

  /** Since when nothing has served (ms since epoch), if nothing serves. */
  get unreachableSince (): number | undefined { return this.#unreachableSince }

  /** Climbs once and starts the timers. Resolves when the first climb ended (whatever its result). */
  async start (): Promise<void> {
    const t = this.#o.timings
    this.#addresses = this.#o.addressKey()
    this.#every(t.recheckMs, () => { this.trigger('periodic re-check') })
    this.#every(t.upProbeMs, () => { void this.#enqueue(async () => { await this.#probeUp() }) })
    this.#every(t.addressPollMs, () => { this.#pollAddresses() })
    await this.#enqueue(async () => { await this.#descend(0, 'start') })
  }

  /** Re-checks the serving rung at once (coalesced with a check already waiting). */
  trigger (reason: string): void {
    if (this.#stop.signal.aborted || this.#checkQueued) return
    this.#checkQueued = true
    this.#o.logger.debug({ reason }, 'reachability re-check')
    void this.#enqueue(async () => {
      this.#checkQueued = false
      await this.#recheck(reason)
    })
  }

  /** Stops the timers and releases the serving rung. Idempotent. */
  async stop (): Promise<void> {
    if (this.#stop.signal.aborted) return
    this.#stop.abort(STOPPED())
    for (const t of this.#timers) clearInterval(t)
    this.#timers.clear()
    clearTimeout(this.#retry)
    await this.#queue
    const current = this.#current
    this.#current = undefined
    await current?.close()
  }

  #every (ms: number, f: () => void): void {
    const t = setInterval(f, ms)
    t.unref()
    this.#timers.add(t)
  }

  async #enqueue (f: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#stop.signal.aborted) return
      try {
        await f()
      } catch (err) {
        if (!this.#stop.signal.aborted) this.#o.logger.error({ err: errorMessage(err) }, 'reachability ladder step failed')
      }
    })
    this.#queue = run
    await run
  }

  #line (ok: boolean, text: string): void {
    this.emit('line', { ok, text })
  }

  async #attempt (rung: Rung, skipRelay?: string): Promise<RungOutcome> {
    const { ctx } = this.#o
    const signal = this.#stop.signal
    if (rung === 'direct') return await tryDirect(ctx, signal, this.#current?.pinholes)
    if (rung === 'upnp_mapped') return await tryMapped(ctx, signal)
    return await tryRelay(ctx, signal, skipRelay)
  }

  /** Publishes `active` and makes it the serving rung, then releases the previous one. */
  async #activate (active: ActiveRung, reason: string): Promise<boolean> {
    const refusal = await this.#o.publish(active)
    if (refusal !== undefined) {
      this.#line(false, `${active.rung} refused by the directory: ${refusal}`)
      await active.close()
      return false
    }
    const old = this.#current
    this.#current = active
    this.#unreachableSince = undefined
    this.#unreachableAt = undefined
    clearTimeout(this.#retry)
    this.#record(old?.rung ?? null, active.rung, active.endpoint, reason)
    if (old !== undefined && old !== active) await old.close()
    return true
  }

  #record (from: Rung | null, to: Rung | null, endpoint: string | null, reason: string): void {
    const t: Transition = { from, to, endpoint, reason, at: new Date().toISOString() }
    this.transitions.push(t)
    if (this.transitions.length > 100) this.transitions.shift()
    this.emit('change', t)
  }

  /** Tries the rungs from `from` down and serves on the first that works. */
  async #descend (from: number, reason: string, skipRelay?: string): Promise<void> {
    for (let i = from; i < RUNGS.length; i++) {
      if (this.#stop.signal.aborted) return
      const rung = RUNGS[i] as Rung
      const outcome = await this.#attempt(rung, skipRelay)
      for (const l of outcome.lines) this.emit('line', l)
      if (outcome.active !== undefined && await this.#activate(outcome.active, reason)) return
    }
    this.#unreachable(reason)
  }

  #unreachable (reason: string): void {
    if (this.#stop.signal.aborted) return
    const old = this.#current
    this.#current = undefined
    if (old !== undefined) {
      void old.close()
      this.#record(old.rung, null, null, reason)
      this.#o.unpublish()
    }
    const now = performance.now()
    this.#unreachableSince ??= Date.now()
    this.#unreachableAt ??= now
    const t = this.#o.timings
    this.#line(false, `no rung works; trying again in ${Math.round(t.retryMs / 100) / 10} s`)
    if (this.#o.supervised && now - this.#unreachableAt >= t.giveUpAfterMs) {
      this.emit('give-up')
      return
    }
    clearTimeout(this.#retry)
    this.#retry = setTimeout(() => { void this.#enqueue(async () => { if (this.#current === undefined) await this.#descend(0, 'retry') }) }, Math.min(t.retryMs, Math.max(1, Math.ceil(t.giveUpAfterMs - (now - this.#unreachableAt)))))
    this.#retry.unref()
  }

  async #recheck (reason: string): Promise<void> {
    const current = this.#current
    if (current === undefined) {
      await this.#descend(0, reason)
      return
    }
    const why = await current.check(this.#stop.signal)
    if (why === undefined) return
    this.#line(false, why)
    const skip = current.rung === 'relay' ? String(current.metadata.relay) : undefined
    await this.#descend(RUNGS.indexOf(current.rung), why, skip)
  }

  /** Tries the rungs above the serving one; moves up only past the hysteresis. */
  async #probeUp (): Promise<void> {
    const current = this.#current
    if (current === undefined) return
    const t = this.#o.timings
    for (let i = 0; i < RUNGS.indexOf(current.rung); i++) {
      const rung = RUNGS[i] as Rung
      const outcome = await this.#attempt(rung)
      const active = outcome.active
      if (active === undefined) {
        this.#upSeen.delete(rung)
        continue
      }
      const now = performance.now()
      const first = this.#upSeen.get(rung)
      const spaced = first !== undefined && now - first >= t.upMinSpacingMs
      const cooled = this.#lastUpMove === undefined || now - this.#lastUpMove >= t.upCooldownMs
      if (!spaced || !cooled) {
        if (first === undefined) this.#upSeen.set(rung, now)
        this.#o.logger.info({ rung, spaced, cooled }, 'higher rung verified; waiting for the hysteresis')
        await active.close()
        return
      }
      for (const l of outcome.lines) this.emit('line', l)
      if (await this.#activate(active, `${rung} verified twice`)) {
        this.#lastUpMove = now
        this.#upSeen.clear()
      }
      return
    }
  }

  #pollAddresses (): void {
    const key = this.#o.addressKey()
    if (key === this.#addresses) return
    const before = new Set(this.#addresses.split(' ').filter(s => s !== ''))
    const after = new Set(key.split(' ').filter(s => s !== ''))
    this.#addresses = key
    const added = [...after].filter(a => !before.has(a))
    const gone = [...before].filter(a => !after.has(a))
    this.#line(true, `address change${added.length > 0 ? ` +${added.join(' +')}` : ''}${gone.length > 0 ? ` -${gone.join(' -')}` : ''}`)
    this.trigger('local address change')
    if (added.length > 0) void this.#enqueue(async () => { await this.#probeUp() })
  }
}
