/**
 * A per-source token bucket for the STUN server, with a bounded number of tracked sources
 * (the oldest entry is evicted first). Time comes from performance.now(); no timers.
 */

/** Rate limit of the STUN server, per source IP. */
export interface StunRateLimit {
  /** Sustained requests per second per source IP. @default 100 */
  perSecond?: number
  /** Bucket size (burst) per source IP. @default 200 */
  burst?: number
  /** Most source IPs tracked at once; the least recently seen is forgotten first. @default 10000 */
  maxSources?: number
}

/** A token bucket keyed by source. */
export interface RateLimiter {
  /** Takes one token for `key`; false when its bucket is empty. */
  take: (key: string) => boolean
}

interface Bucket { tokens: number, at: number }

/** Creates a {@link RateLimiter}. */
export function createRateLimiter (limit: StunRateLimit, now: () => number = () => performance.now()): RateLimiter {
  const perMs = (limit.perSecond ?? 100) / 1000
  const burst = limit.burst ?? 200
  const maxSources = limit.maxSources ?? 10_000
  const buckets = new Map<string, Bucket>()
  return {
    take (key) {
      const t = now()
      const bucket = buckets.get(key) ?? { tokens: burst, at: t }
      buckets.delete(key) // re-inserted below: Map order doubles as recency order
      bucket.tokens = Math.min(burst, bucket.tokens + (t - bucket.at) * perMs)
      bucket.at = t
      const ok = bucket.tokens >= 1
      if (ok) bucket.tokens -= 1
      buckets.set(key, bucket)
      if (buckets.size > maxSources) {
        const oldest = buckets.keys().next().value
        if (oldest !== undefined) buckets.delete(oldest)
      }
      return ok
    }
  }
}
