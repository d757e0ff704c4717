/**
 * Deadlines of many waits behind one timer. A relay call waits for its worker's answer up to
 * its timeout; a Node timer per call costs a `Timeout` object, async-hook bookkeeping and a
 * list insertion and removal for every task. Here waits with the same timeout queue in the
 * order they started, which is their deadline order, and one unref'd timer is armed for the
 * earliest deadline while any wait is queued: adding and removing a wait is linking and
 * unlinking an entry.
 */

/** One wait's deadline; {@link DeadlineQueue.remove} it once the wait is over. */
export interface Deadline {
  /** `performance.now()` at which it expires. */
  readonly at: number
}

interface Entry extends Deadline {
  readonly onExpire: () => void
  readonly list: EntryList
  prev: Entry | undefined
  next: Entry | undefined
  /** False once expired or removed. */
  queued: boolean
}

/** The waits of one timeout value, oldest (earliest deadline) first; dropped when empty. */
interface EntryList {
  readonly timeoutMs: number
  head: Entry | undefined
  tail: Entry | undefined
}

/** Deadlines sharing one timer. */
export class DeadlineQueue {
  readonly #lists = new Map<number, EntryList>()
  #timer: NodeJS.Timeout | undefined
  /** `performance.now()` the timer fires at; Infinity when none is armed. */
  #armedFor = Infinity
  readonly #fire = (): void => { this.#expire() }

  /** Calls `onExpire` once `timeoutMs` have passed, unless the deadline is removed first. */
  add (timeoutMs: number, onExpire: () => void): Deadline {
    let list = this.#lists.get(timeoutMs)
    if (list === undefined) {
      list = { timeoutMs, head: undefined, tail: undefined }
      this.#lists.set(timeoutMs, list)
    }
    const entry: Entry = { at: performance.now() + timeoutMs, onExpire, list, prev: list.tail, next: undefined, queued: true }
    if (list.tail === undefined) list.head = entry
    else list.tail.next = entry
    list.tail = entry
    if (entry.at < this.#armedFor) this.#arm(entry.at)
    return entry
  }

  /** Forgets a deadline (its wait is over); a no-op once it expired or was removed. */
  remove (deadline: Deadline): void {
    const entry = deadline as Entry
    if (!entry.queued) return
    entry.queued = false
    const { list, prev, next } = entry
    if (prev === undefined) list.head = next
    else prev.next = next
    if (next === undefined) list.tail = prev
    else next.prev = prev
    entry.prev = undefined
    entry.next = undefined
    if (list.head !== undefined) return
    this.#lists.delete(list.timeoutMs)
    if (this.#lists.size === 0) {
      // Nothing waits: no timer holds this queue (and the session it serves) until it would fire.
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#armedFor = Infinity
    }
  }

  #arm (at: number): void {
    clearTimeout(this.#timer)
    this.#armedFor = at
    // Node fires a timer no earlier than its delay; +1 ms covers the rounding of a fraction.
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - performance.now())) + 1)
    this.#timer.unref()
  }

  #expire (): void {
    this.#timer = undefined
    this.#armedFor = Infinity
    const now = performance.now()
    let next = Infinity
    for (const list of this.#lists.values()) {
      while (list.head !== undefined && list.head.at <= now) {
        const entry = list.head
        this.remove(entry)
        entry.onExpire()
      }
      if (list.head !== undefined) next = Math.min(next, list.head.at)
    }
    if (next < Infinity && next < this.#armedFor) this.#arm(next)
  }
}
