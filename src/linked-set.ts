/**
 * A set of short-lived entries held by a long-lived owner (requests or tasks in flight), as a
 * doubly linked list: O(1) add and delete, insertion-order iteration, and no hash table. A Map
 * or Set that keeps losing and gaining keys reallocates its table every few operations, in the
 * old generation where its long-lived owner sits, and each discarded table keeps the entries it
 * held reachable until the next full GC: entries that would have died young are promoted
 * instead, with everything they reference (on the relay at 1 KiB and one call at a time, 4.5 KiB
 * promoted per request with its in-flight requests in a Map, 3.2 KiB with them here, none once the
 * calls in flight moved to an InFlightMap and the commands stopped V8's pretenuring). Entries that
 * must be found by key go in an InFlightMap (in-flight-map.ts) instead.
 */

/** An entry's place in a {@link LinkedSet}; pass it to {@link LinkedSet.delete}. */
export interface LinkedNode<T> {
  readonly value: T
}

interface Node<T> extends LinkedNode<T> {
  prev: Node<T> | undefined
  next: Node<T> | undefined
  /** False once deleted. */
  linked: boolean
}

/** Entries in insertion order with constant-time add and delete. */
export class LinkedSet<T> {
  #head: Node<T> | undefined
  #tail: Node<T> | undefined
  #size = 0

  /** Entries in the set. */
  get size (): number {
    return this.#size
  }

  /** Appends `value`; keep the returned node to delete it. */
  add (value: T): LinkedNode<T> {
    const node: Node<T> = { value, prev: this.#tail, next: undefined, linked: true }
    if (this.#tail === undefined) this.#head = node
    else this.#tail.next = node
    this.#tail = node
    this.#size++
    return node
  }

  /** Removes the entry of `node`; false (and nothing done) if it was already deleted. */
  delete (entry: LinkedNode<T>): boolean {
    const node = entry as Node<T>
    if (!node.linked) return false
    node.linked = false
    const { prev, next } = node
    if (prev === undefined) this.#head = next
    else prev.next = next
    if (next === undefined) this.#tail = prev
    else next.prev = prev
    node.prev = undefined
    node.next = undefined
    this.#size--
    return true
  }

  /** The values in insertion order, as an array taken now (safe to delete while going through it). */
  toArray (): T[] {
    const out: T[] = []
    for (let node = this.#head; node !== undefined; node = node.next) out.push(node.value)
    return out
  }
}
