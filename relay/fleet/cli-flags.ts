/**
 * The `iicp-relay` flags that make a relay a fleet member (`--redis`, `--fleet-…`), and the
 * fleet they describe. Without `--redis` there is no fleet and the other fleet flags are
 * refused, so a relay is either plainly standalone or fully configured.
 */
import { hostPortFlag, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import { DEFAULT_FLEET_INTERNAL_PORT, DEFAULT_LEASE_TTL_MS, createRedisFleet, type RedisFleet } from './index.ts'

/** The fleet flags, appended to the relay's own. */
export const FLEET_FLAGS: readonly FlagSpec[] = [
  { name: 'redis', type: 'string', env: 'IICP_RELAY_REDIS_URL', valueName: 'URL', description: 'join a relay fleet whose shared state is in this Redis (redis://host:6379, rediss:// for TLS)' },
  { name: 'fleet-id', type: 'string', env: 'IICP_RELAY_FLEET_ID', valueName: 'ID', description: 'fleet name, the Redis key prefix shared by its relays (default iicp)' },
  { name: 'instance-id', type: 'string', env: 'IICP_RELAY_INSTANCE_ID', valueName: 'ID', description: 'this relay\'s id in the fleet (default hostname-random)' },
  { name: 'fleet-secret', type: 'string', env: 'IICP_RELAY_FLEET_SECRET', valueName: 'SECRET', secret: true, description: 'shared secret authenticating relay-to-relay calls (16+ characters; prefer the environment)' },
  { name: 'fleet-listen', type: 'string', env: 'IICP_RELAY_FLEET_LISTEN', valueName: 'HOST:PORT', description: `internal relay-to-relay listener (default 127.0.0.1:${DEFAULT_FLEET_INTERNAL_PORT}; use a private address)` },
  { name: 'fleet-internal-url', type: 'string', env: 'IICP_RELAY_FLEET_INTERNAL_URL', valueName: 'URL', description: 'tcp://HOST:PORT the other relays reach the internal listener at (default tcp://<fleet-listen>)' },
  { name: 'fleet-lease', type: 'string', env: 'IICP_RELAY_FLEET_LEASE', valueName: 'SECONDS', description: `lifetime of a session's fleet entry, refreshed every third of it (default ${DEFAULT_LEASE_TTL_MS / 1000})` },
  { name: 'fleet-unavailable-binds', type: 'string', env: 'IICP_RELAY_FLEET_UNAVAILABLE_BINDS', valueName: 'POLICY', description: 'new binds while Redis is down: accept (locally, claimed when Redis is back; default) or refuse' }
]

/** Bind-rate settings shared with the relay's own flags. */
export interface FleetRateFromFlags {
  limit: number
  windowMs: number
}

/**
 * The fleet the flags describe, or undefined without `--redis`. Throws ERR_USAGE (exit 2)
 * for a missing secret, fleet flags without `--redis`, or malformed values.
 */
export function fleetFromFlags (values: FlagValues, bindRate: FleetRateFromFlags, logger: Logger): RedisFleet | undefined {
  const redisUrl = stringFlag(values, 'redis')
  if (redisUrl === undefined || redisUrl === '') {
    const stray = FLEET_FLAGS.find(f => f.name !== 'redis' && stringFlag(values, f.name) !== undefined)
    if (stray !== undefined) throw usageError(`--${stray.name} needs --redis`)
    return undefined
  }
  const secret = stringFlag(values, 'fleet-secret')
  if (secret === undefined || secret.length < 16) throw usageError('--redis needs --fleet-secret (or IICP_RELAY_FLEET_SECRET) of at least 16 characters')
  const listen = hostPortFlag(stringFlag(values, 'fleet-listen') ?? `127.0.0.1:${DEFAULT_FLEET_INTERNAL_PORT}`, 'fleet-listen', { allowZeroPort: true })
  const internalUrl = stringFlag(values, 'fleet-internal-url')
  if (internalUrl === undefined && (listen.host === '0.0.0.0' || listen.host === '::')) {
    throw usageError('--fleet-listen on a wildcard address needs --fleet-internal-url (the address other relays dial)')
  }
  const policy = stringFlag(values, 'fleet-unavailable-binds') ?? 'accept'
  if (policy !== 'accept' && policy !== 'refuse') throw usageError(`--fleet-unavailable-binds must be accept or refuse, got "${policy}"`)
  const fleetId = stringFlag(values, 'fleet-id')
  const instanceId = stringFlag(values, 'instance-id')
  try {
    return createRedisFleet({
      redisUrl,
      secret,
      ...(fleetId === undefined ? {} : { fleetId }),
      ...(instanceId === undefined ? {} : { instanceId }),
      internalHost: listen.host,
      internalPort: listen.port,
      ...(internalUrl === undefined ? {} : { internalUrl }),
      leaseTtlMs: secondsFlag(values, 'fleet-lease', DEFAULT_LEASE_TTL_MS, 0.3, 3600),
      unavailableBinds: policy,
      logger
    }, bindRate)
  } catch (err) {
    if (err instanceof ToolkitError && err.code === ErrorCode.InvalidConfig) throw usageError(err.message)
    throw err
  }
}
