/**
 * The fleet's session directory (worker id → owning relay) with leases. A bind claims its id
 * atomically in Redis; one heartbeat per relay extends the claims of its alive sessions
 * (a half-open session stops being extended and expires from the fleet as it would locally)
 * and publishes the relay's membership. A lease runs until the send time of the last
 * successful refresh plus the TTL, which is never later than the entry's expiry in Redis; a
 * session whose lease runs out, or whose id another relay now holds, is closed, so no id is
 * ever served by two relays. Binds accepted while Redis was unreachable (policy `accept`)
 * hold no lease until the next heartbeat claims them; one another relay holds by then is closed.
 * An id whose lease ran out because Redis was unreachable is not accepted here again until
 * Redis answers: its worker is meant to move to a relay that can claim it.
 */
import { randomUUID } from 'node:crypto'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import type { ClaimResult, FleetHost, SessionDirectory } from '../fleet-plugin.ts'
import type { BoundWorkerSession } from '../session.ts'
import type { UnavailableBindPolicy } from './options.ts'
import type { OwnerRecord, RedisStore } from './redis-store.ts'

/** A claim and, once bound, its session. */
interface Claim {
  readonly workerId: string
  readonly record: OwnerRecord
  /** performance.now() time until which the claim is certainly ours; undefined while unfenced. */
  leaseUntil: number | undefined
  session: BoundWorkerSession | undefined
}

/** Options for {@link FleetDirectory}. */
export interface FleetDirectoryOptions {
  store: RedisStore
  instanceId: string
  leaseTtlMs: number
  heartbeatMs: number
  policy: UnavailableBindPolicy
  logger: Logger
}

/** The Redis-backed {@link SessionDirectory} with its heartbeat. */
export class FleetDirectory implements SessionDirectory {
  readonly #o: FleetDirectoryOptions
  /** Claims made by binds still completing, by token. */
  readonly #claiming = new Map<string, Claim>()
  /** Claims of bound sessions, by worker id. */
  readonly #held = new Map<string, Claim>()
  /** Ids whose lease ran out while Redis was unreachable; refused here until a heartbeat succeeds. */
  readonly #lapsed = new Set<string>()
  /** Margin kept before a lease's end, for timer lateness. */
  readonly #guardMs: number
  #url = ''
  #host: FleetHost | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #leaseTimer: NodeJS.Timeout | undefined
  #ticking: Promise<void> | undefined
  #closed = false

  constructor (o: FleetDirectoryOptions) {
    this.#o = o
    this.#guardMs = Math.min(250, Math.floor(o.leaseTtlMs / 10))
  }

  /** Sessions bound here that the directory tracks. */
  get heldCount (): number {
    return this.#held.size
  }

  /** Worker ids of every session bound here (leased, or accepted while Redis was unreachable). */
  heldIds (): string[] {
    return [...this.#held.keys()]
  }

  /** Worker ids this relay holds a lease on now (fenced claims only). */
  leasedIds (): string[] {
    const now = performance.now()
    return [...this.#held.values()].filter(c => c.leaseUntil !== undefined && c.leaseUntil > now).map(c => c.workerId)
  }

  /** Starts the heartbeat; `url` is this relay's internal address. */
  start (url: string, host: FleetHost): void {
    this.#url = url
    this.#host = host
    this.#heartbeat = setInterval(() => { void this.tick() }, this.#o.heartbeatMs)
    void this.tick()
  }

  async claim (workerId: string, models: readonly string[]): Promise<ClaimResult> {
    const token = randomUUID()
    const record: OwnerRecord = { t: token, i: this.#o.instanceId, u: this.#url, m: [...models] }
    const sentAt = performance.now()
    let ok: boolean
    try {
      ok = await this.#o.store.claim(workerId, record, this.#o.leaseTtlMs)
    } catch {
      if (this.#o.policy === 'refuse') {
        this.#o.logger.warn({ workerId }, 'fleet: Redis unreachable, bind refused (policy refuse)')
        return { ok: false, outcome: 'unavailable' }
      }
      if (this.#lapsed.has(workerId)) {
        this.#o.logger.warn({ workerId }, 'fleet: Redis unreachable and this id\'s lease lapsed here, bind refused so the worker moves to another relay')
        return { ok: false, outcome: 'unavailable' }
      }
      this.#o.logger.warn({ workerId }, 'fleet: Redis unreachable, bind accepted on this relay; it is claimed fleet-wide once Redis is back')
      this.#claiming.set(token, { workerId, record, leaseUntil: undefined, session: undefined })
      return { ok: true, token }
    }
    if (!ok) return { ok: false, outcome: 'already_bound' }
    this.#claiming.set(token, { workerId, record, leaseUntil: sentAt + this.#o.leaseTtlMs, session: undefined })
    return { ok: true, token }
  }

  release (workerId: string, token: string): void {
    this.#claiming.delete(token)
    this.#releaseInStore(workerId, token)
  }

  hold (token: string, session: BoundWorkerSession): void {
    const claim = this.#claiming.get(token)
    this.#claiming.delete(token)
    if (claim === undefined) return
    claim.session = session
    this.#held.set(claim.workerId, claim)
    this.#armLeaseTimer()
  }

  ended (session: BoundWorkerSession): void {
    const claim = this.#held.get(session.workerId)
    if (claim?.session !== session) return
    this.#held.delete(session.workerId)
    this.#releaseInStore(claim.workerId, claim.record.t)
  }

  /**
   * One heartbeat: extends (or, after a Redis restart, re-creates) the claims of alive sessions,
   * closes sessions whose id another relay holds now, and publishes membership.
   */
  async tick (): Promise<void> {
    this.#ticking ??= this.#refresh().finally(() => { this.#ticking = undefined })
    await this.#ticking
  }

  /** Stops the heartbeat and gives back every claim (best effort, bounded by the command timeout). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#heartbeat)
    clearTimeout(this.#leaseTimer)
    await this.#ticking
    const claims = [...this.#held.values()]
    this.#held.clear()
    await Promise.allSettled(claims.map(async c => { await this.#o.store.release(c.workerId, c.record.t) }))
  }

  async #refresh (): Promise<void> {
    if (this.#closed) return
    const claims = [...this.#held.values()].filter(c => c.session?.alive === true)
    const sentAt = performance.now()
    try {
      const lost = new Set(await this.#o.store.refresh(claims.map(c => c.record), claims.map(c => c.workerId), this.#o.leaseTtlMs, this.#o.instanceId))
      for (const c of claims) {
        if (this.#held.get(c.workerId) !== c) continue
        if (lost.has(c.workerId)) this.#lose(c, 'another relay holds this worker id')
        else c.leaseUntil = sentAt + this.#o.leaseTtlMs
      }
      const host = this.#host
      if (host !== undefined) {
        await this.#o.store.heartbeat({ instance: this.#o.instanceId, url: this.#url, sessions: host.sessionCount(), capacity: host.maxSessions, at: Date.now() }, this.#o.leaseTtlMs)
        // Redis answered (a refresh of no claims does not ask it): lapsed ids may be claimed here again.
        this.#lapsed.clear()
      }
    } catch (err) {
      this.#o.logger.debug({ err }, 'fleet: heartbeat failed')
    }
    this.#armLeaseTimer()
  }

  /** Arms the one lease timer at the earliest lease end among held claims. */
  #armLeaseTimer (): void {
    clearTimeout(this.#leaseTimer)
    if (this.#closed) return
    let earliest = Number.POSITIVE_INFINITY
    for (const c of this.#held.values()) if (c.leaseUntil !== undefined && c.leaseUntil < earliest) earliest = c.leaseUntil
    if (earliest === Number.POSITIVE_INFINITY) return
    const delay = Math.max(0, earliest - this.#guardMs - performance.now())
    this.#leaseTimer = setTimeout(() => { this.#expireLeases() }, delay)
  }

  #expireLeases (): void {
    const now = performance.now()
    for (const c of [...this.#held.values()]) {
      if (c.leaseUntil !== undefined && c.leaseUntil - this.#guardMs <= now) {
        this.#lapsed.add(c.workerId)
        this.#lose(c, 'its fleet lease ran out (Redis unreachable for longer than the lease)')
      }
    }
    this.#armLeaseTimer()
  }

  #lose (c: Claim, why: string): void {
    this.#held.delete(c.workerId)
    this.#o.logger.warn({ workerId: c.workerId, why }, 'fleet: lease lost; closing the session')
    c.session?.destroy(new ToolkitError(ErrorCode.SessionClosed, `fleet lease lost: ${why}`))
    this.#releaseInStore(c.workerId, c.record.t)
  }

  #releaseInStore (workerId: string, token: string): void {
    if (token === '') return
    this.#o.store.release(workerId, token).catch(() => { /* the entry expires by its TTL */ })
  }
}
