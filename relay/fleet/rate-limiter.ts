/**
 * The fleet-wide bind rate limit: one fixed window per source (an IPv4 address, or the /64 of
 * an IPv6 address) counted in Redis, so N relays allow the same number of binds per source as
 * one. While Redis cannot be reached, this relay's own in-memory window decides (degraded:
 * per relay instead of per fleet).
 */
import ipaddr from 'ipaddr.js'
import { tryParseIpLiteral } from '../../src/host-port.ts'
import type { FixedWindowLimiter, RateVerdict } from '../../src/rate-limit.ts'
import type { BindRateLimiter } from '../fleet-plugin.ts'
import type { RedisStore } from './redis-store.ts'

const ALLOWED: RateVerdict = { allowed: true }

/** The rate-limit source of an address: the IPv4 address itself, or the IPv6 /64 it lies in. */
export function rateSource (ip: string): string {
  const lit = tryParseIpLiteral(ip)
  if (lit?.family !== 6) return lit?.address ?? ip
  const parts = (ipaddr.parse(lit.address) as ipaddr.IPv6).parts.slice(0, 4)
  return `${parts.map(p => p.toString(16)).join(':')}::/64`
}

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
      const source = rateSource(ip)
      try {
        const { count, remainingMs } = await o.store.hit(source, o.windowMs)
        return count <= o.limit ? ALLOWED : { allowed: false, reason: 'over_limit', retryAfterMs: remainingMs }
      } catch {
        return o.fallback.hit(source, nowMs)
      }
    }
  }
}
