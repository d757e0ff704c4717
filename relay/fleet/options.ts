/**
 * Options of a Redis-backed relay fleet, their defaults, and their validation.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'

/**
 * What a relay does with a new bind while Redis cannot be reached: `accept` binds it locally
 * (replay protection and rate limits fall back to this relay's own memory, and the claim is
 * made once Redis is back, where the later claimant loses), `refuse` answers "relay at session
 * capacity" so the worker tries another relay.
 */
export type UnavailableBindPolicy = 'accept' | 'refuse'

/** Options for {@link createRedisFleet}. */
export interface FleetOptions {
  /** Redis URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS). */
  redisUrl: string
  /** Fleet name: the Redis key prefix shared by the relays of one fleet. @default 'iicp' */
  fleetId?: string
  /** This relay's id, unique in the fleet. @default `${hostname}-${random}` */
  instanceId?: string
  /** Shared secret that authenticates relay-to-relay calls (at least 16 characters). */
  secret: string
  /** Address the internal (relay-to-relay) listener binds to. @default '127.0.0.1' */
  internalHost?: string
  /** Port of the internal listener; 0 picks an ephemeral port. @default 9487 */
  internalPort?: number
  /** Address other relays reach this one's internal listener at, as `tcp://host:port`. @default tcp://{internalHost}:{bound port} */
  internalUrl?: string
  /** Lifetime of a session's directory entry and of the membership heartbeat, refreshed every third of it. @default 15000 */
  leaseTtlMs?: number
  /** Deadline of one Redis command; a slower Redis counts as unavailable. @default 1000 */
  redisCommandTimeoutMs?: number
  /** How long a looked-up owner is reused before asking Redis again. @default 500 */
  locateCacheMs?: number
  /** Extra time a relay-to-relay call gets beyond the call's own deadline. @default 2000 */
  linkGraceMs?: number
  /** New binds while Redis is unreachable. @default 'accept' */
  unavailableBinds?: UnavailableBindPolicy
  /** Logger. @default silent */
  logger?: Logger
}

/** {@link FleetOptions} with defaults applied. */
export interface ResolvedFleetOptions {
  redisUrl: string
  fleetId: string
  instanceId: string
  secret: string
  internalHost: string
  internalPort: number
  internalUrl: string | undefined
  leaseTtlMs: number
  heartbeatMs: number
  redisCommandTimeoutMs: number
  locateCacheMs: number
  linkGraceMs: number
  unavailableBinds: UnavailableBindPolicy
  logger: Logger
}

/** Default port of the internal relay-to-relay listener. */
export const DEFAULT_FLEET_INTERNAL_PORT = 9487
/** Default lease lifetime. */
export const DEFAULT_LEASE_TTL_MS = 15_000

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.InvalidConfig, message)
}

function int (name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < min || v > max) throw invalid(`${name} must be an integer ${min}-${max}, got ${v}`)
  return v
}

/** Applies defaults and validates; throws ERR_INVALID_CONFIG. */
export function resolveFleetOptions (o: FleetOptions): ResolvedFleetOptions {
  let url: URL
  try {
    url = new URL(o.redisUrl)
  } catch {
    throw invalid(`redisUrl is not a URL: "${o.redisUrl}"`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw invalid(`redisUrl must be redis:// or rediss://, got "${url.protocol}"`)
  const fleetId = o.fleetId ?? 'iicp'
  if (!ID_PATTERN.test(fleetId)) throw invalid('fleetId must be 1-64 characters of A-Z a-z 0-9 . _ : -')
  const instanceId = o.instanceId ?? `${hostname().slice(0, 40)}-${randomBytes(4).toString('hex')}`
  if (!ID_PATTERN.test(instanceId)) throw invalid('instanceId must be 1-64 characters of A-Z a-z 0-9 . _ : -')
  if (typeof o.secret !== 'string' || o.secret.length < 16) throw invalid('the fleet secret must have at least 16 characters')
  if (o.internalUrl !== undefined) {
    let internal: URL
    try {
      internal = new URL(o.internalUrl)
    } catch {
      throw invalid(`internalUrl is not a URL: "${o.internalUrl}"`)
    }
    if ((internal.protocol !== 'tcp:' && internal.protocol !== 'http:') || internal.port === '') throw invalid('internalUrl must be tcp://host:port')
  }
  const leaseTtlMs = int('leaseTtlMs', o.leaseTtlMs, DEFAULT_LEASE_TTL_MS, 300, 3_600_000)
  const policy = o.unavailableBinds ?? 'accept'
  if (policy !== 'accept' && policy !== 'refuse') throw invalid('unavailableBinds must be "accept" or "refuse"')
  return {
    redisUrl: o.redisUrl,
    fleetId,
    instanceId,
    secret: o.secret,
    internalHost: o.internalHost ?? '127.0.0.1',
    internalPort: int('internalPort', o.internalPort, DEFAULT_FLEET_INTERNAL_PORT, 0, 65535),
    internalUrl: o.internalUrl?.replace(/\/+$/, ''),
    leaseTtlMs,
    heartbeatMs: Math.max(100, Math.floor(leaseTtlMs / 3)),
    redisCommandTimeoutMs: int('redisCommandTimeoutMs', o.redisCommandTimeoutMs, 1000, 10, 60_000),
    locateCacheMs: int('locateCacheMs', o.locateCacheMs, 500, 0, 60_000),
    linkGraceMs: int('linkGraceMs', o.linkGraceMs, 2000, 0, 60_000),
    unavailableBinds: policy,
    logger: o.logger ?? silentLogger()
  }
}
