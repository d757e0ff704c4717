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

interface Entry {
  readonly outcome: Promise<unknown>
  finishedAt: number | undefined
}

/** The ledger of direct-channel tasks. */
export class CallLedger {
  readonly #entries = new Map<string, Entry>()
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
    if (known !== undefined) return await known.outcome
    this.#prune()
    const outcome = task()
    const entry: Entry = { outcome, finishedAt: undefined }
    this.#entries.set(key, entry)
    const finish = (): void => { entry.finishedAt = performance.now() }
    outcome.then(finish, finish)
    return await outcome
  }

  #prune (): void {
    const now = performance.now()
    for (const [key, e] of this.#entries) {
      if (e.finishedAt !== undefined && now - e.finishedAt > this.#retentionMs) this.#entries.delete(key)
    }
    if (this.#entries.size < this.#maxEntries) return
    for (const [key, e] of this.#entries) {
      if (this.#entries.size < this.#maxEntries) break
      if (e.finishedAt !== undefined) this.#entries.delete(key)
    }
  }
}
