/**
 * A relay fleet on Redis: several relays behind one name share their session directory, the
 * bind-ticket replay cache, the per-source bind limits and their membership, and forward calls
 * for workers bound elsewhere to the owning relay over an authenticated internal link.
 *
 * @example
 * ```ts
 * const fleet = createRedisFleet({ redisUrl: 'redis://10.0.0.2:6379', secret: process.env.FLEET_SECRET!, instanceId: 'relay-a', internalHost: '10.0.0.5' })
 * const relay = createRelay({ nodeId: 'relay-a', fleet })
 * await relay.listen()
 * ```
 */
import { Gauge } from 'prom-client'
import { createFixedWindowLimiter } from '../../src/rate-limit.ts'
import { BIND_RATE_LIMIT, BIND_RATE_PRUNE_AT, BIND_RATE_WINDOW_MS, MAX_BIND_RATE_SOURCES } from '../../src/limits.ts'
import { formatHostPort } from '../../src/host-port.ts'
import type { FleetHost, RelayFleet } from '../fleet-plugin.ts'
import { createReplayCache } from '../replay-cache.ts'
import { FleetDirectory } from './directory.ts'
import { LinkClient } from './link-client.ts'
import { LinkServer } from './link-server.ts'
import { resolveFleetOptions, type FleetOptions } from './options.ts'
import { createFleetRateLimiter } from './rate-limiter.ts'
import { createFleetReplayCache } from './replay-cache.ts'
import { RedisStore, type MemberRecord } from './redis-store.ts'

/** Link connections the internal listener accepts at once (one per other relay, plus reconnects). */
const MAX_LINK_CONNECTIONS = 4096

export type { FleetOptions, UnavailableBindPolicy } from './options.ts'
export type { MemberRecord } from './redis-store.ts'
export { DEFAULT_FLEET_INTERNAL_PORT, DEFAULT_LEASE_TTL_MS } from './options.ts'

/** Bind-rate settings of the fleet-wide limiter (the relay's own flags). */
export interface FleetBindRate {
  /** Binds per source per window; 0 disables. @default 30 */
  limit?: number
  /** Window length. @default 60000 */
  windowMs?: number
}

/** A {@link RelayFleet} on Redis, with what operators and tests can inspect. */
export interface RedisFleet extends RelayFleet {
  /** This relay's instance id. */
  readonly instanceId: string
  /** The internal URL other relays reach this one at (known after start). */
  readonly internalUrl: string | undefined
  /** True while Redis is reachable. */
  readonly redisUp: boolean
  /** Worker ids this relay holds a live fleet lease on. */
  leasedIds: () => string[]
  /** Worker ids of the sessions bound here that the fleet directory tracks (leased or not yet claimed). */
  heldIds: () => string[]
  /** The relays of the fleet whose heartbeat is alive (their load and capacity). Rejects with ERR_FLEET_UNAVAILABLE. */
  members: () => Promise<MemberRecord[]>
  /** Runs one heartbeat now (tests, and right after Redis comes back). */
  heartbeat: () => Promise<void>
}

/** Creates a Redis-backed fleet plug-in for `createRelay({ fleet })`. Throws ERR_INVALID_CONFIG. */
export function createRedisFleet (options: FleetOptions, bindRate: FleetBindRate = {}): RedisFleet {
  const o = resolveFleetOptions(options)
  const logger = o.logger.child({ component: 'fleet', instance: o.instanceId })
  const store = new RedisStore({
    url: o.redisUrl,
    fleetId: o.fleetId,
    commandTimeoutMs: o.redisCommandTimeoutMs,
    logger,
    // Right after Redis comes back: claim what was bound meanwhile, re-create entries a restart lost.
    onAvailability: up => { if (up) void dir.tick() },
    rebuildMs: o.heartbeatMs + o.redisCommandTimeoutMs
  })
  const dir = new FleetDirectory({ store, instanceId: o.instanceId, leaseTtlMs: o.leaseTtlMs, heartbeatMs: o.heartbeatMs, policy: o.unavailableBinds, logger })
  const limit = bindRate.limit ?? BIND_RATE_LIMIT
  const windowMs = bindRate.windowMs ?? BIND_RATE_WINDOW_MS
  const rateLimiter = createFleetRateLimiter({
    store,
    limit,
    windowMs,
    fallback: createFixedWindowLimiter({ limit, windowMs, maxKeys: MAX_BIND_RATE_SOURCES, pruneAt: BIND_RATE_PRUNE_AT, whenFull: 'evict-oldest' })
  })
  const replayCache = createFleetReplayCache({ store, local: createReplayCache(), policy: o.unavailableBinds, logger })
  const remote = new LinkClient({
    store,
    fleetId: o.fleetId,
    instanceId: o.instanceId,
    secret: o.secret,
    locateCacheMs: o.locateCacheMs,
    linkGraceMs: o.linkGraceMs
  })
  const server = new LinkServer({ secret: o.secret, fleetId: o.fleetId, maxConnections: MAX_LINK_CONNECTIONS, logger })
  let internalUrl: string | undefined
  let started = false
  let closing: Promise<void> | undefined

  async function start (host: FleetHost): Promise<void> {
    if (started) return
    started = true
    const port = await server.listen(o.internalHost, o.internalPort, host)
    internalUrl = o.internalUrl ?? `tcp://${formatHostPort(o.internalHost, port)}`
    await store.connect(o.redisCommandTimeoutMs)
    dir.start(internalUrl, host)
    const registers = [host.metrics]
    new Gauge({ name: 'iicp_relay_fleet_redis_up', help: '1 while the fleet\'s Redis is reachable', registers, collect () { this.set(store.up ? 1 : 0) } })
    new Gauge({ name: 'iicp_relay_fleet_leased_sessions', help: 'Sessions this relay holds a live fleet lease on', registers, collect () { this.set(dir.leasedIds().length) } })
    new Gauge({ name: 'iicp_relay_fleet_unclaimed_sessions', help: 'Sessions bound while Redis was unreachable, not yet claimed fleet-wide', registers, collect () { this.set(dir.heldCount - dir.leasedIds().length) } })
    logger.info({ internalUrl, redis: store.up ? 'up' : 'down', leaseTtlMs: o.leaseTtlMs, unavailableBinds: o.unavailableBinds }, 'fleet member started')
  }

  async function stop (): Promise<void> {
    await dir.close()
    await server.close()
    remote.close()
    await store.close()
  }

  return {
    directory: dir,
    replayCache,
    rateLimiter,
    remote,
    start,
    async close () {
      closing ??= stop()
      await closing
    },
    status: () => ({ fleet_id: o.fleetId, instance_id: o.instanceId, redis: store.up ? (store.rebuilding ? 'rebuilding' : 'up') : 'down', leased_sessions: dir.heldCount }),
    instanceId: o.instanceId,
    get internalUrl () {
      return internalUrl
    },
    get redisUp () {
      return store.up
    },
    leasedIds: () => dir.leasedIds(),
    heldIds: () => dir.heldIds(),
    members: async () => await store.members(),
    heartbeat: async () => { await dir.tick() }
  }
}
