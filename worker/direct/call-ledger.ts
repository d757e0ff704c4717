/**
 * Exactly-once across a path switch: every task that arrives over a direct channel is recorded
 * under `<peer id>/<call id>`. When the consumer loses the channel it re-sends its unanswered
 * tasks through the relay as `retry` connect tasks naming the same key; the worker then joins
 * the running task or returns its recorded outcome instead of running it twice, and a CALL that
 * arrives late on the channel joins the relayed run the same way. Finished outcomes are kept
 * for {@link LEDGER_RETENTION_MS} and at most {@link LEDGER_MAX_ENTRIES} entries (oldest first out).
 */

/** How long a finished outcome is kept for a retry. */
export const LEDGER_RETENTION_MS = 60_000
/** Most entries kept (running ones are never dropped). */
export const LEDGER_MAX_ENTRIES = 4096

/** The ledger of direct-channel tasks. */
export class CallLedger {
  readonly #entries = new Map<string, Promise<unknown>>()
  /** Finished keys in the order they finished (so oldest first): pruning stops at the first one kept. */
  readonly #finished = new Map<string, number>()
  readonly #retentionMs: number
  readonly #maxEntries: number

  constructor (retentionMs = LEDGER_RETENTION_MS, maxEntries = LEDGER_MAX_ENTRIES) {
    this.#retentionMs = retentionMs
    this.#maxEntries = maxEntries
  }

  /** Entries held now. */
  get size (): number {
    return this.#entries.size
  }

  /** Runs `task` under `key` unless that key is running or recently finished: then its outcome is shared. */
  async run (key: string, task: () => Promise<unknown>): Promise<unknown> {
    const known = this.#entries.get(key)
    if (known !== undefined) return await known
    this.#prune()
    const outcome = task()
    this.#entries.set(key, outcome)
    const finish = (): void => { this.#finished.set(key, performance.now()) }
    outcome.then(finish, finish)
    return await outcome
  }

  /** Drops expired outcomes, then the oldest finished ones while full; O(1) per call amortised. */
  #prune (): void {
    const now = performance.now()
    for (const [key, finishedAt] of this.#finished) {
      if (now - finishedAt <= this.#retentionMs && this.#entries.size < this.#maxEntries) break
      this.#finished.delete(key)
      this.#entries.delete(key)
    }
  }
}
