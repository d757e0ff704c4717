/**
 * The fleet-wide bind rate limit: one fixed window per source (an IPv4 address, or the /64 of
 * an IPv6 address) counted in Redis, so N relays allow the same number of binds per source as
 * one. While Redis cannot be reached, this relay's own in-memory window decides (degraded:
 * per relay instead of per fleet).
 */
import { rateLimitSource, type FixedWindowLimiter, type RateVerdict } from '../../src/rate-limit.ts'
import type { BindRateLimiter } from '../fleet-plugin.ts'
import type { RedisStore } from './redis-store.ts'

const ALLOWED: RateVerdict = { allowed: true }

/** Options for {@link createFleetRateLimiter}. */
export interface FleetRateLimiterOptions {
  store: RedisStore
  /** Attempts per window; 0 disables the limit. */
  limit: number
  windowMs: number
  /** Decides while Redis is unreachable. */
  fallback: FixedWindowLimiter
}

/** Creates the fleet-wide {@link BindRateLimiter}. */
export function createFleetRateLimiter (o: FleetRateLimiterOptions): BindRateLimiter {
  return {
    async hit (ip, nowMs) {
      if (o.limit === 0) return ALLOWED
      const source = rateLimitSource(ip)
      try {
        const { count, remainingMs } = await o.store.hit(source, o.windowMs)
        return count <= o.limit ? ALLOWED : { allowed: false, reason: 'over_limit', retryAfterMs: remainingMs }
      } catch {
        return o.fallback.hit(source, nowMs)
      }
    }
  }
}
