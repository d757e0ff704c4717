/**
 * Per-source-IP bind rate limit (upstream F5): at most `limit` attempts per fixed window that
 * starts at the key's first attempt. The counter increases before the comparison, so failed
 * attempts count too. The bucket map is bounded: expired windows are pruned once it grows past
 * `pruneAt` keys, and the oldest buckets are dropped beyond `maxBuckets`.
 */

/** Options for {@link createBindRateLimiter}. */
export interface BindRateLimiterOptions {
  /** Attempts allowed per window; 0 disables the limiter. */
  limit: number
  /** Window length in milliseconds. */
  windowMs: number
  /** Bucket count past which expired windows are pruned. @default 4096 */
  pruneAt?: number
  /** Hard cap on buckets; the oldest are dropped beyond it. @default 65536 */
  maxBuckets?: number
}

/** A fixed-window rate limiter keyed by source IP. */
export interface BindRateLimiter {
  /** Counts one attempt for `key` at monotonic time `nowMs`; false when it is over the limit. */
  hit: (key: string, nowMs: number) => boolean
  /** Number of buckets held (for tests and metrics). */
  readonly size: number
}

interface Bucket {
  start: number
  count: number
}

/** Creates a {@link BindRateLimiter}. */
export function createBindRateLimiter (options: BindRateLimiterOptions): BindRateLimiter {
  const { limit, windowMs } = options
  const pruneAt = options.pruneAt ?? 4096
  const maxBuckets = options.maxBuckets ?? 65_536
  // Insertion order equals window-start order (a key is re-inserted when its window restarts),
  // so expired buckets sit at the front and pruning stops at the first live one.
  const buckets = new Map<string, Bucket>()

  function prune (nowMs: number): void {
    for (const [key, b] of buckets) {
      if (nowMs - b.start < windowMs) break
      buckets.delete(key)
    }
    for (const key of buckets.keys()) {
      if (buckets.size < maxBuckets) break
      buckets.delete(key)
    }
  }

  return {
    hit (key, nowMs) {
      if (limit === 0) return true
      let b = buckets.get(key)
      if (b === undefined || nowMs - b.start >= windowMs) {
        if (b !== undefined) buckets.delete(key)
        if (buckets.size >= pruneAt) prune(nowMs)
        b = { start: nowMs, count: 0 }
        buckets.set(key, b)
      }
      b.count += 1
      return b.count <= limit
    },
    get size () {
      return buckets.size
    }
  }
}
