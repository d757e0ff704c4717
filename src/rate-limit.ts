/**
 * Per-source rate limits, with a bounded table of tracked sources. Three named policies:
 *
 * - fixed window, **evict-oldest** when the table is full: relay binds (upstream F5). A flood of
 *   new sources pushes out the oldest windows; a source is never refused for the table's sake.
 * - fixed window, **refuse-when-full**: the NAT dial-back reflector. A live window is never
 *   forgotten (that would hand its source a fresh quota); a new source is refused instead.
 * - **token bucket**, least recently seen source evicted: the STUN server (sustained rate plus burst).
 *
 * Time is passed in or read from performance.now(); no timers.
 */
import ipaddr from 'ipaddr.js'
import { tryParseIpLiteral } from './host-port.ts'

/**
 * The source a per-source limit counts: an IPv4 address itself, an IPv6 address by its /64
 * (one customer's allocation: counting single IPv6 addresses would give each host 2^64 quotas).
 * Anything that is not an IP literal is its own source.
 */
export function rateLimitSource (ip: string): string {
  const lit = tryParseIpLiteral(ip)
  if (lit === undefined) return ip
  if (lit.family === 4) return lit.address
  const parts = ipaddr.IPv6.parse(lit.address).parts.slice(0, 4)
  return `${parts.map(p => p.toString(16)).join(':')}::/64`
}

/** What the table does with a new source when it holds `maxKeys` live ones. */
export type WhenFull = 'evict-oldest' | 'refuse'

/** Options for {@link createFixedWindowLimiter}. */
export interface FixedWindowOptions {
  /** Attempts allowed per window; 0 disables the limiter. */
  limit: number
  /** Window length in milliseconds, starting at a source's first attempt. */
  windowMs: number
  /** Hard cap on tracked sources. */
  maxKeys: number
  /** Policy when the table is full of live windows. */
  whenFull: WhenFull
  /** Table size past which expired windows are pruned on a new window. @default maxKeys */
  pruneAt?: number
}

/** The answer to one attempt. */
export type RateVerdict =
  | { allowed: true }
  | { allowed: false, reason: 'over_limit', retryAfterMs: number }
  | { allowed: false, reason: 'table_full' }

/** A fixed-window rate limiter keyed by source. */
export interface FixedWindowLimiter {
  /**
   * Counts one attempt for `key` at monotonic time `nowMs`. Every attempt that reaches the
   * limiter counts, including ones over the limit.
   */
  hit: (key: string, nowMs: number) => RateVerdict
  /** Number of windows held (for tests and metrics). */
  readonly size: number
}

const ALLOWED: RateVerdict = { allowed: true }

/** Creates a {@link FixedWindowLimiter} with the given {@link WhenFull} policy. */
export function createFixedWindowLimiter (options: FixedWindowOptions): FixedWindowLimiter {
  const { limit, windowMs, maxKeys, whenFull } = options
  const pruneAt = options.pruneAt ?? maxKeys
  // Insertion order equals window-start order (a key is re-inserted when its window restarts),
  // so expired windows sit at the front and pruning stops at the first live one.
  const windows = new Map<string, { start: number, count: number }>()

  function pruneExpired (nowMs: number): void {
    for (const [key, w] of windows) {
      if (nowMs - w.start < windowMs) break
      windows.delete(key)
    }
  }

  return {
    hit (key, nowMs) {
      if (limit === 0) return ALLOWED
      let w = windows.get(key)
      if (w === undefined || nowMs - w.start >= windowMs) {
        if (w !== undefined) windows.delete(key)
        if (windows.size >= pruneAt) pruneExpired(nowMs)
        if (windows.size >= maxKeys) {
          if (whenFull === 'refuse') return { allowed: false, reason: 'table_full' }
          for (const oldest of windows.keys()) {
            if (windows.size < maxKeys) break
            windows.delete(oldest)
          }
        }
        w = { start: nowMs, count: 0 }
        windows.set(key, w)
      }
      w.count += 1
      return w.count <= limit ? ALLOWED : { allowed: false, reason: 'over_limit', retryAfterMs: w.start + windowMs - nowMs }
    },
    get size () {
      return windows.size
    }
  }
}

/** Options for {@link createTokenBucketLimiter}. */
export interface TokenBucketOptions {
  /** Sustained attempts per second per source. */
  perSecond: number
  /** Bucket size (burst) per source. */
  burst: number
  /** Most sources tracked at once; the least recently seen is forgotten first. */
  maxKeys: number
}

/** A token bucket keyed by source. */
export interface TokenBucketLimiter {
  /** Takes one token for `key`; false when its bucket is empty. */
  take: (key: string) => boolean
}

/** Creates a {@link TokenBucketLimiter}; `now` is a monotonic clock in milliseconds. */
export function createTokenBucketLimiter (options: TokenBucketOptions, now: () => number = () => performance.now()): TokenBucketLimiter {
  const perMs = options.perSecond / 1000
  const { burst, maxKeys } = options
  const buckets = new Map<string, { tokens: number, at: number }>()
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
      if (buckets.size > maxKeys) {
        const oldest = buckets.keys().next().value
        if (oldest !== undefined) buckets.delete(oldest)
      }
      return ok
    }
  }
}
