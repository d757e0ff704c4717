/**
 * The STUN server's rate limit: the token-bucket policy of src/rate-limit.ts (sustained rate
 * plus burst per source IP, least recently seen source forgotten first), with STUN's defaults.
 */
import { createTokenBucketLimiter, type TokenBucketLimiter } from '../../src/rate-limit.ts'

/** Rate limit of the STUN server, per source IP. */
export interface StunRateLimit {
  /** Sustained requests per second per source IP. @default 100 */
  perSecond?: number
  /** Bucket size (burst) per source IP. @default 200 */
  burst?: number
  /** Most source IPs tracked at once; the least recently seen is forgotten first. @default 10000 */
  maxSources?: number
}

/** Creates the STUN server's per-source token bucket; `now` is a monotonic clock in milliseconds. */
export function createStunRateLimiter (limit: StunRateLimit, now?: () => number): TokenBucketLimiter {
  return createTokenBucketLimiter({ perSecond: limit.perSecond ?? 100, burst: limit.burst ?? 200, maxKeys: limit.maxSources ?? 10_000 }, now)
}
