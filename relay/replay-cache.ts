/**
 * One-use bind-ticket cache (spec §3.3): `jti → exp`. A jti is remembered until its ticket
 * expires, so a ticket can bind once. Bounded: expired entries are pruned (at most once per
 * clock second, or whenever the cache is full), and a cache full of live entries refuses new
 * ones rather than forgetting a live jti (which would allow a replay).
 */

/** Outcome of {@link ReplayCache.consume}. */
export type ConsumeOutcome = 'ok' | 'replayed' | 'full'

/** The one-use jti cache. */
export interface ReplayCache {
  /** Consumes `jti` (valid until `expSeconds`) at `nowSeconds` (a fleet's cache answers asynchronously). */
  consume: (jti: string, expSeconds: number, nowSeconds: number) => ConsumeOutcome | Promise<ConsumeOutcome>
  /** Number of remembered jtis. */
  readonly size: number
}

/** Options for {@link createReplayCache}. */
export interface ReplayCacheOptions {
  /** Most jtis remembered at once. @default 100000 */
  maxEntries?: number
  /** Size from which expired entries are pruned. @default 1024 */
  pruneAt?: number
}

/** Creates a {@link ReplayCache}. */
export function createReplayCache (options: ReplayCacheOptions = {}): ReplayCache {
  const maxEntries = options.maxEntries ?? 100_000
  const pruneAt = Math.min(options.pruneAt ?? 1024, maxEntries)
  const seen = new Map<string, number>()
  let lastPruneSecond = Number.NEGATIVE_INFINITY

  function prune (nowSeconds: number): void {
    lastPruneSecond = nowSeconds
    for (const [jti, exp] of seen) if (exp <= nowSeconds) seen.delete(jti)
  }

  return {
    consume (jti, expSeconds, nowSeconds) {
      const exp = seen.get(jti)
      if (exp !== undefined && exp > nowSeconds) return 'replayed'
      if (seen.size >= maxEntries || (seen.size >= pruneAt && nowSeconds !== lastPruneSecond)) prune(nowSeconds)
      if (seen.size >= maxEntries) return 'full'
      seen.set(jti, expSeconds)
      return 'ok'
    },
    get size () {
      return seen.size
    }
  }
}
