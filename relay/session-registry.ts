/**
 * The relay's `worker_id → session` registry. Entries are removed only by the session that
 * owns them, so a session that ends after a newer bind replaced it never evicts the newer one.
 */
import type { BoundWorkerSession } from './session.ts'

/** worker_id → bound session. */
export class SessionRegistry {
  readonly #map = new Map<string, BoundWorkerSession>()

  /** Sessions held (alive or not yet torn down). */
  get size (): number {
    return this.#map.size
  }

  /** The session registered for `workerId`, alive or not. */
  get (workerId: string): BoundWorkerSession | undefined {
    return this.#map.get(workerId)
  }

  /** The session for `workerId` if it is alive. */
  alive (workerId: string): BoundWorkerSession | undefined {
    const s = this.#map.get(workerId)
    return s?.alive === true ? s : undefined
  }

  /** Installs `session`, replacing any (dead) entry. */
  set (session: BoundWorkerSession): void {
    this.#map.set(session.workerId, session)
  }

  /** Removes the entry for `session.workerId` only if it is still `session`. */
  removeIf (session: BoundWorkerSession): boolean {
    if (this.#map.get(session.workerId) !== session) return false
    this.#map.delete(session.workerId)
    return true
  }

  /** A snapshot of every registered session. */
  sessions (): BoundWorkerSession[] {
    return [...this.#map.values()]
  }
}
