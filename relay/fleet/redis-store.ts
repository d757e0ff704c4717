/**
 * The fleet's shared state in Redis, as typed operations: session ownership (claim, refresh,
 * release, look-up), the bind-ticket replay set, the per-source bind counters and membership.
 * Every key lives under `{fleetId}:` and has a TTL, so a dead relay's entries expire by
 * themselves. The client never queues commands while disconnected and never re-sends one
 * after a reconnect: each operation either completes within the command timeout or fails
 * at once, and the callers fall back (see the fleet's documented policy).
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'

/** A session's ownership record as stored in Redis. */
export interface OwnerRecord {
  /** The claim token of the owning session. */
  t: string
  /** The owning relay's instance id. */
  i: string
  /** The owning relay's internal URL. */
  u: string
  /** The worker's models (RELAY_BIND key 3). */
  m: string[]
}

/** One relay's membership heartbeat. */
export interface MemberRecord {
  instance: string
  url: string
  sessions: number
  capacity: number
  /** Unix milliseconds of the heartbeat. */
  at: number
}

/** Claim `KEYS[1]` with value ARGV[3] unless another instance (ARGV[2]) holds it. */
const CLAIM_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, o = pcall(cjson.decode, cur)
  if ok and type(o) == 'table' and o.i ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`

/**
 * For each key i: extend it while it holds token ARGV[2i+1]; set it to ARGV[2i+2] when it is
 * missing (expired, or lost in a Redis restart) or held by this same instance ARGV[2] (an
 * older session of this relay); else report 0 (another relay holds it).
 */
const REFRESH_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local token = ARGV[2 * i + 1]
  local cur = redis.call('GET', key)
  local ok, o = false, nil
  if cur then ok, o = pcall(cjson.decode, cur) end
  if cur and ok and type(o) == 'table' and o.t == token then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  elseif (not cur) or (ok and type(o) == 'table' and o.i == ARGV[2]) then
    redis.call('SET', key, ARGV[2 * i + 2], 'PX', ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out`

/** Deletes `KEYS[1]` only while it holds token ARGV[1]. */
const RELEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, o = pcall(cjson.decode, cur)
if ok and type(o) == 'table' and o.t == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Counts one attempt in a fixed window of ARGV[1] ms starting at the first one; returns {count, pttl}. */
const HIT_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`

/**
 * The fleet's epoch: `KEYS[1]` set to ARGV[1] when missing. Returns {1, value} when it was
 * created now, {0, value} when it existed. The epoch lives as long as the fleet's data, so a
 * relay that finds a value other than the one it knew is talking to a Redis that lost the data.
 */
const EPOCH_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}`

/** The typed scripts, as ioredis defines them on the client. */
interface FleetScripts {
  fleetClaim: (key: string, token: string, instance: string, value: string, ttlMs: number) => Promise<number>
  fleetRefresh: (...keysThenArgs: Array<string | number>) => Promise<number[]>
  fleetRelease: (key: string, token: string) => Promise<number>
  fleetHit: (key: string, windowMs: number) => Promise<[number, number]>
  fleetEpoch: (key: string, candidate: string) => Promise<[number, string]>
}

/** Keys refreshed per script call. */
const REFRESH_BATCH = 500
/** Members listed at most. */
const MAX_MEMBERS = 1000

/** Options for {@link RedisStore}. */
export interface RedisStoreOptions {
  url: string
  fleetId: string
  commandTimeoutMs: number
  logger: Logger
  /** Called on every change of reachability. */
  onAvailability?: (up: boolean) => void
  /**
   * How long after connecting to a Redis that lost the fleet's keys (a restart without
   * persistence) the directory counts as rebuilding: every relay re-creates its entries within
   * one heartbeat, and until then a missing entry is not proof that a worker is gone.
   */
  rebuildMs: number
}

/** Wraps a Redis failure as the fleet's ERR_FLEET_UNAVAILABLE. */
export function fleetUnavailable (err: unknown): ToolkitError {
  if (err instanceof ToolkitError && err.code === ErrorCode.FleetUnavailable) return err
  return new ToolkitError(ErrorCode.FleetUnavailable, `fleet state (Redis) unavailable: ${errorMessage(err)}`, { cause: err })
}

/** The fleet's Redis connection and operations. */
export class RedisStore {
  readonly #o: RedisStoreOptions
  /** Created by the first {@link RedisStore.connect} (ioredis is loaded then, not with the relay). */
  #client: (Redis & FleetScripts) | undefined
  readonly #prefix: string
  readonly #logger: Logger
  #up = false
  #closed = false
  #rebuildingUntil = 0
  /** The epoch this relay last saw (undefined before its first connection). */
  #epoch: string | undefined

  constructor (o: RedisStoreOptions) {
    this.#o = o
    this.#prefix = `${o.fleetId}:`
    this.#logger = o.logger
  }

  /** The client; only operations run through {@link RedisStore.#run} (connected) reach it. */
  get #c (): Redis & FleetScripts {
    if (this.#client === undefined) throw fleetUnavailable('not connected')
    return this.#client
  }

  async #createClient (): Promise<Redis & FleetScripts> {
    const o = this.#o
    const { Redis } = await import('ioredis')
    const client: Redis & FleetScripts = new Redis(o.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: o.commandTimeoutMs,
      connectTimeout: Math.max(1000, o.commandTimeoutMs),
      // A Redis that stops answering (partition, SIGSTOP) is dropped and redialled.
      socketTimeout: Math.max(1000, o.commandTimeoutMs * 2),
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 500)
    }) as Redis & FleetScripts
    client.defineCommand('fleetClaim', { numberOfKeys: 1, lua: CLAIM_LUA })
    client.defineCommand('fleetRefresh', { lua: REFRESH_LUA })
    client.defineCommand('fleetRelease', { numberOfKeys: 1, lua: RELEASE_LUA })
    client.defineCommand('fleetHit', { numberOfKeys: 1, lua: HIT_LUA })
    client.defineCommand('fleetEpoch', { numberOfKeys: 1, lua: EPOCH_LUA })
    const setUp = (up: boolean): void => {
      if (this.#up === up) return
      this.#up = up
      if (up) this.#logger.info('fleet: Redis reachable')
      else if (!this.#closed) this.#logger.warn('fleet: Redis unreachable; local sessions keep serving, forwards needing the directory fail with 503')
      o.onAvailability?.(up)
    }
    client.on('ready', () => {
      // The epoch key lives as long as the fleet's data: created now means a new or wiped Redis,
      // and so does a value other than the one this relay knew (another relay re-created it first).
      client.fleetEpoch(`${this.#prefix}epoch`, `${Date.now()}-${randomUUID()}`).then(([created, epoch]) => {
        if (created === 1 || (this.#epoch !== undefined && epoch !== this.#epoch)) this.#rebuildingUntil = performance.now() + o.rebuildMs
        this.#epoch = epoch
      }, () => {}).finally(() => { setUp(true) })
    })
    client.on('close', () => { setUp(false) })
    client.on('end', () => { setUp(false) })
    // Connection errors are expected while Redis is down; the state change above is the report.
    client.on('error', (err: Error) => { this.#logger.debug({ err }, 'fleet: Redis connection error') })
    return client
  }

  /** True while the connection is ready. */
  get up (): boolean {
    return this.#up
  }

  /** True shortly after connecting to a Redis that had lost the fleet's keys (see {@link RedisStoreOptions.rebuildMs}). */
  get rebuilding (): boolean {
    return performance.now() < this.#rebuildingUntil
  }

  /** Connects, waiting at most `timeoutMs`; a Redis that is down now is redialled in the background. */
  async connect (timeoutMs: number): Promise<void> {
    if (this.#closed) return
    const client = this.#client ??= await this.#createClient()
    if (this.#closed) {
      client.disconnect()
      return
    }
    const ready = new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        client.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      client.once('ready', done)
    })
    client.connect().catch(() => { /* retried by the retry strategy */ })
    await ready
  }

  /** Closes the connection (QUIT when connected, else at once). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const client = this.#client
    if (client === undefined) return
    if (this.#up) {
      try {
        await client.quit()
        return
      } catch {
        // Fall through to a hard disconnect.
      }
    }
    client.disconnect()
  }

  /** Claims `workerId` for `record`; false while another instance holds it. */
  async claim (workerId: string, record: OwnerRecord, ttlMs: number): Promise<boolean> {
    return await this.#run(async () => await this.#c.fleetClaim(this.#ownerKey(workerId), record.t, record.i, JSON.stringify(record), ttlMs)) === 1
  }

  /** Refreshes the given records; resolves with the worker ids whose claim another session holds now. */
  async refresh (records: readonly OwnerRecord[], workerIds: readonly string[], ttlMs: number, instanceId: string): Promise<string[]> {
    const lost: string[] = []
    for (let start = 0; start < records.length; start += REFRESH_BATCH) {
      const ids = workerIds.slice(start, start + REFRESH_BATCH)
      const recs = records.slice(start, start + REFRESH_BATCH)
      const args: Array<string | number> = [ids.length, ...ids.map(id => this.#ownerKey(id)), ttlMs, instanceId]
      for (const r of recs) args.push(r.t, JSON.stringify(r))
      const out = await this.#run(async () => await this.#c.fleetRefresh(...args))
      out.forEach((held, i) => { if (held !== 1) lost.push(ids[i] as string) })
    }
    return lost
  }

  /** Deletes the claim of `workerId` if `token` still holds it. */
  async release (workerId: string, token: string): Promise<void> {
    await this.#run(async () => await this.#c.fleetRelease(this.#ownerKey(workerId), token))
  }

  /** The owner record of `workerId`, or undefined when no relay holds it. */
  async owner (workerId: string): Promise<OwnerRecord | undefined> {
    const raw = await this.#run(async () => await this.#c.get(this.#ownerKey(workerId)))
    if (raw === null) return undefined
    try {
      const o = JSON.parse(raw) as Partial<OwnerRecord>
      if (typeof o.t !== 'string' || typeof o.i !== 'string' || typeof o.u !== 'string' || !Array.isArray(o.m)) return undefined
      return { t: o.t, i: o.i, u: o.u, m: o.m.filter((x): x is string => typeof x === 'string') }
    } catch {
      return undefined
    }
  }

  /** Consumes a ticket jti for `ttlMs`; false when it was already used in the fleet. */
  async consumeJti (jti: string, ttlMs: number): Promise<boolean> {
    const res = await this.#run(async () => await this.#c.set(`${this.#prefix}jti:${jti}`, '1', 'PX', ttlMs, 'NX'))
    return res === 'OK'
  }

  /** Counts one bind attempt for `source` in a window of `windowMs`; resolves with the count and the window's remaining ms. */
  async hit (source: string, windowMs: number): Promise<{ count: number, remainingMs: number }> {
    const [count, pttl] = await this.#run(async () => await this.#c.fleetHit(`${this.#prefix}rate:${source}`, windowMs))
    return { count, remainingMs: pttl > 0 ? pttl : windowMs }
  }

  /** Publishes this relay's heartbeat for `ttlMs`. */
  async heartbeat (member: MemberRecord, ttlMs: number): Promise<void> {
    const setKey = `${this.#prefix}members`
    await this.#run(async () => await this.#c.multi()
      .set(`${this.#prefix}member:${member.instance}`, JSON.stringify(member), 'PX', ttlMs)
      .zadd(setKey, member.at + ttlMs, member.instance)
      .zremrangebyscore(setKey, '-inf', member.at)
      .exec())
  }

  /** The relays whose heartbeat is alive. */
  async members (): Promise<MemberRecord[]> {
    const names = await this.#run(async () => await this.#c.zrangebyscore(`${this.#prefix}members`, Date.now(), '+inf', 'LIMIT', 0, MAX_MEMBERS))
    if (names.length === 0) return []
    const raws = await this.#run(async () => await this.#c.mget(names.map(n => `${this.#prefix}member:${n}`)))
    const out: MemberRecord[] = []
    for (const raw of raws) {
      if (raw === null) continue
      try {
        out.push(JSON.parse(raw) as MemberRecord)
      } catch {
        // A malformed heartbeat is skipped.
      }
    }
    return out
  }

  #ownerKey (workerId: string): string {
    return `${this.#prefix}owner:${workerId}`
  }

  async #run<T> (op: () => Promise<T>): Promise<T> {
    if (!this.#up) throw fleetUnavailable('not connected')
    try {
      return await op()
    } catch (err) {
      throw fleetUnavailable(err)
    }
  }
}
