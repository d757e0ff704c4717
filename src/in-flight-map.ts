/**
 * A keyed map of short-lived entries held by a long-lived owner (calls in flight by call id),
 * kept out of the old generation.
 *
 * A `Map` that keeps gaining and losing keys rehashes into a new table every few dozen
 * additions. Once the Map has lived through two young collections its table sits in the old
 * generation, and V8 then allocates each new table there too; every table it leaves behind
 * still points at the entries it held, and the young collector treats those pointers as live
 * until the next full GC. So entries that would have died young (a relayed call's pending
 * entry, with its promise, closures, deadline and the caller's AbortSignal) were promoted
 * instead: on the relay at 1 KiB and 64 calls in flight, nearly all of them, 330–365 KB per
 * young collection (none with this map, in a node started without allocation-site pretenuring
 * as the CLIs are), each young collection taking 0.9–2.1 ms instead of 0.3, and the old
 * generation growing by some 9 MB a second until a mark-compact.
 * This map hands its entries to a fresh `Map` every {@link RENEW_EVERY_SETS} additions, so that
 * under load the Map and its tables stay young and the tables it drops die young. Entries that
 * need no lookup by key go in a LinkedSet (linked-set.ts), which has no table at all.
 */

/** Additions between two renewals: often enough that a busy map never ages into the old generation. */
export const RENEW_EVERY_SETS = 128

/** A Map for entries that come and go while their owner stays. */
export class InFlightMap<K, V> {
  #map = new Map<K, V>()
  #sets = 0

  /** Entries in the map. */
  get size (): number {
    return this.#map.size
  }

  /** The value under `key`, if any. */
  get (key: K): V | undefined {
    return this.#map.get(key)
  }

  /** True when `key` has an entry. */
  has (key: K): boolean {
    return this.#map.has(key)
  }

  /** Sets `key` to `value`. */
  set (key: K, value: V): void {
    if (++this.#sets >= RENEW_EVERY_SETS) {
      this.#sets = 0
      this.#map = new Map(this.#map)
    }
    this.#map.set(key, value)
  }

  /** Removes `key`; false if it had no entry. */
  delete (key: K): boolean {
    return this.#map.delete(key)
  }

  /** Removes every entry and returns their values, in insertion order. */
  takeAll (): V[] {
    const values = [...this.#map.values()]
    this.#map = new Map()
    this.#sets = 0
    return values
  }
}
