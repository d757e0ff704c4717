/**
 * Deadlines of many waits behind one timer. A relay call waits for its worker's answer up to
 * its timeout, a worker's task runs up to its own; a Node timer per call costs a `Timeout`
 * object, async-hook bookkeeping and a list insertion and removal for every task. Here waits
 * with the same timeout queue in the order they started, which is their deadline order, and
 * one unref'd timer is armed for the earliest deadline: adding and removing a wait is linking
 * and unlinking an entry. The timer is not cleared when the queue empties; it fires once with
 * nothing to do (or finds the deadlines queued since) and is armed again only while waits are
 * queued.
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

/** The waits of one timeout value, oldest (earliest deadline) first. */
interface EntryList {
  readonly timeoutMs: number
  head: Entry | undefined
  tail: Entry | undefined
}

/**
 * An emptied list is kept for the next wait with its timeout while the queue holds at most this
 * many lists, and dropped at once beyond; the timer drops every empty list when it fires.
 */
const MAX_IDLE_LISTS = 8

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
    // The timer stays armed (unref'd, holding only this queue) and finds nothing when it fires,
    // so that one wait at a time (a lone caller) does not arm and clear a timer for every call.
    // An emptied list stays for the next wait with its timeout (a Map that loses and regains a
    // key reallocates its table, in the old generation, every few calls) unless there are many.
    if (list.head === undefined && this.#lists.size > MAX_IDLE_LISTS) this.#lists.delete(list.timeoutMs)
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
      else this.#lists.delete(list.timeoutMs)
    }
    if (next < Infinity && next < this.#armedFor) this.#arm(next)
  }
}
