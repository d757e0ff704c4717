/**
 * Which source last held each worker id, for a few minutes after its session ended. A worker
 * that comes back to the id it held, from the same source (IPv4 address or IPv6 /64), is not a
 * new worker: its bind is exempt from the bind rate limit even after a clean CLOSE removed its
 * registry entry. Bounded: entries expire after the grace and the oldest go first when full.
 */

/** The recently ended sessions' worker ids and sources. */
export class RecentHolders {
  readonly #graceMs: number
  readonly #maxEntries: number
  /** worker id → its last holder; insertion order is end order (re-inserted on every end). */
  readonly #ended = new Map<string, { source: string, endedAt: number }>()

  /** Remembers each id for `graceMs` (monotonic ms), at most `maxEntries` ids at once. */
  constructor (graceMs: number, maxEntries: number) {
    this.#graceMs = graceMs
    this.#maxEntries = maxEntries
  }

  /** Ids remembered right now. */
  get size (): number {
    return this.#ended.size
  }

  /** `workerId`'s session from `source` ended at monotonic time `now`. */
  record (workerId: string, source: string, now: number): void {
    this.#ended.delete(workerId)
    for (const [id, e] of this.#ended) {
      if (now - e.endedAt < this.#graceMs && this.#ended.size < this.#maxEntries) break
      this.#ended.delete(id)
    }
    this.#ended.set(workerId, { source, endedAt: now })
  }

  /** True when `source` held `workerId` within the grace before `now`. */
  heldRecently (workerId: string, source: string, now: number): boolean {
    const e = this.#ended.get(workerId)
    return e !== undefined && e.source === source && now - e.endedAt < this.#graceMs
  }
}
