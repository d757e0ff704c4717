/**
 * The fleet-wide bind-ticket replay cache: a jti consumed on any relay is remembered in Redis
 * until the ticket's `exp`, so it binds once in the whole fleet. While Redis cannot be
 * reached, the `accept` policy falls back to this relay's own cache (a replay on another relay
 * is then possible until Redis is back) and the `refuse` policy refuses the bind.
 */
import type { Logger } from '../../src/log.ts'
import type { ConsumeOutcome, ReplayCache } from '../replay-cache.ts'
import type { UnavailableBindPolicy } from './options.ts'
import type { RedisStore } from './redis-store.ts'

/** Options for {@link createFleetReplayCache}. */
export interface FleetReplayCacheOptions {
  store: RedisStore
  /** Remembers jtis while Redis is unreachable (and catches a replay on this relay at once). */
  local: ReplayCache
  policy: UnavailableBindPolicy
  logger: Logger
}

/** Creates the fleet-wide {@link ReplayCache}. */
export function createFleetReplayCache (o: FleetReplayCacheOptions): ReplayCache {
  return {
    async consume (jti, expSeconds, nowSeconds): Promise<ConsumeOutcome> {
      const local = await o.local.consume(jti, expSeconds, nowSeconds)
      if (local !== 'ok') return local
      try {
        // Remembered until the ticket's exp on this relay's clock (a TTL, so Redis's clock does not matter).
        return await o.store.consumeJti(jti, Math.max(1, expSeconds - nowSeconds) * 1000) ? 'ok' : 'replayed'
      } catch {
        if (o.policy === 'refuse') {
          o.logger.warn('fleet: Redis unreachable, bind with a ticket refused (policy refuse)')
          return 'full'
        }
        o.logger.warn('fleet: Redis unreachable, ticket replay checked on this relay only')
        return 'ok'
      }
    },
    get size () {
      return o.local.size
    }
  }
}
