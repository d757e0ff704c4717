/**
 * Fleet test harness: relays in this process that share one real redis-server, with short
 * leases so expiry-driven behaviour happens within a test's time budget.
 */
import { createRelay, type Relay, type RelayOptions } from '../../relay/index.ts'
import { createRedisFleet, type FleetOptions, type RedisFleet } from '../../relay/fleet/index.ts'
import { RedisServer } from './redis-server.ts'

/** The shared secret of test fleets. */
export const FLEET_SECRET = 'test-fleet-secret-0123456789'
/** Lease TTL used by the fleet tests (ms). */
export const TEST_LEASE_TTL_MS = 1500

/** One relay of a test fleet. */
export interface FleetMember {
  relay: Relay
  fleet: RedisFleet
  instanceId: string
  httpPort: number
  relayPort: number
  close: () => Promise<void>
}

/** Options for {@link startMember}. */
export interface MemberOptions {
  instanceId: string
  fleet?: Partial<FleetOptions>
  relay?: RelayOptions
}

/** Starts one fleet relay on 127.0.0.1 (ephemeral ports) against `redisUrl`. */
export async function startMember (redisUrl: string, o: MemberOptions): Promise<FleetMember> {
  const fleet = createRedisFleet({
    redisUrl,
    secret: FLEET_SECRET,
    fleetId: 'test',
    instanceId: o.instanceId,
    internalHost: '127.0.0.1',
    internalPort: 0,
    leaseTtlMs: TEST_LEASE_TTL_MS,
    redisCommandTimeoutMs: 300,
    locateCacheMs: 200,
    ...o.fleet
  }, { limit: o.relay?.bindRateLimit ?? 0 })
  const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, bindRateLimit: 0, ...o.relay, fleet })
  const { httpPort, relayPort } = await relay.listen()
  return { relay, fleet, instanceId: o.instanceId, httpPort, relayPort, close: async () => { await relay.close() } }
}

/** Starts `n` members named r0…r{n-1}. */
export async function startFleet (redisUrl: string, n: number, extra: Omit<MemberOptions, 'instanceId'> = {}): Promise<FleetMember[]> {
  const members: FleetMember[] = []
  try {
    for (let i = 0; i < n; i++) members.push(await startMember(redisUrl, { ...extra, instanceId: `r${i}` }))
  } catch (err) {
    await Promise.all(members.map(async m => { await m.close() }))
    throw err
  }
  return members
}

/** Polls `check` every 20 ms until it is true or `timeoutMs` passes (then throws `what`). */
export async function eventually (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (performance.now() > until) throw new Error(`timed out waiting for: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Runs `fn` with two fleet relays on a fresh redis-server, and tears all of it down afterwards. */
export async function withPair (relay: RelayOptions, fn: (a: FleetMember, b: FleetMember) => Promise<void>): Promise<void> {
  const redis = await RedisServer.start()
  try {
    const [a, b] = await startFleet(redis.url, 2, { relay }) as [FleetMember, FleetMember]
    try {
      await fn(a, b)
    } finally {
      await a.close()
      await b.close()
    }
  } finally {
    await redis.close()
  }
}
