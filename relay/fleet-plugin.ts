/**
 * The seams through which a relay can share state with other relays (a fleet). A relay without
 * a fleet uses the in-memory defaults: its own replay cache and rate limiter, and a session
 * directory that knows only the local registry. `relay/fleet/` implements the seams on Redis.
 */
import type { Registry } from 'prom-client'
import { joinBytes, type ByteChunks, type Bytes } from '../src/byte-chunks.ts'
import type { LifecycleEvent } from '../src/protocol/messages.ts'
import type { RateVerdict } from '../src/rate-limit.ts'
import type { ReplayCache } from './replay-cache.ts'
import type { SessionRegistry } from './session-registry.ts'
import type { BoundWorkerSession, CallOptions, StreamIds } from './session.ts'

/** The per-source bind rate limit: the in-memory fixed window, or a fleet-wide one. */
export interface BindRateLimiter {
  /** Counts one bind attempt for source `key` at monotonic time `nowMs`. */
  hit: (key: string, nowMs: number) => RateVerdict | Promise<RateVerdict>
}

/** Outcome of {@link SessionDirectory.claim}. */
export type ClaimResult =
  | { ok: true, token: string }
  | { ok: false, outcome: 'already_bound' | 'unavailable' }

/** worker id → owning relay, fleet-wide. One owner per worker id at any time. */
export interface SessionDirectory {
  /**
   * Claims `workerId` for a bind this relay has admitted. Fails with `already_bound` while
   * another relay's claim is alive, `unavailable` when the shared state cannot be reached and
   * the fleet refuses binds then.
   */
  claim: (workerId: string, models: readonly string[]) => Promise<ClaimResult>
  /** Gives back a claim whose bind did not complete. */
  release: (workerId: string, token: string) => void
  /** The bind completed: `session` holds the claim until it ends; the directory closes it if the claim is lost. */
  hold: (token: string, session: BoundWorkerSession) => void
  /** `session` ended: its claim is given back. */
  ended: (session: BoundWorkerSession) => void
}

/** Per-call options of a remote call (the same deadline and cancellation as a local one). */
export interface RemoteCallOptions {
  signal?: AbortSignal | undefined
  timeoutMs: number
}

/** A call for a worker bound to another relay of the fleet, carried to its owner. */
export interface RemoteCalls {
  /**
   * Forwards `taskJson` to the relay owning `workerId` and resolves with the worker's RESPONSE
   * body. Rejects like a local session call, with ERR_SESSION_NOT_FOUND when no relay owns the
   * id, and ERR_FLEET_UNAVAILABLE / ERR_FLEET_LINK when the owner cannot be found or reached.
   */
  call: (workerId: string, taskJson: Uint8Array, options: RemoteCallOptions) => Promise<Buffer>
  /** Opens a stream CALL at the owner and yields its validated lifecycle events. */
  openStream: (workerId: string, taskJson: Uint8Array, ids: StreamIds, options: RemoteCallOptions) => AsyncIterableIterator<LifecycleEvent>
  /** The models of `workerId` when another relay owns it, else undefined. */
  health: (workerId: string, signal?: AbortSignal) => Promise<{ models: readonly string[] } | undefined>
}

/** What a fleet gets from its relay when the relay starts. */
export interface FleetHost {
  /** The relay's alive local session for a worker id. */
  alive: (workerId: string) => BoundWorkerSession | undefined
  /** Local sessions held (for the membership heartbeat). */
  sessionCount: () => number
  /** The relay's session capacity. */
  maxSessions: number
  /** The relay's default forward timeout. */
  forwardTimeoutMs: number
  /** The relay's Prometheus registry, for the fleet's own gauges. */
  metrics: Registry
}

/** A fleet plug-in for {@link RelayOptions.fleet}. */
export interface RelayFleet {
  directory: SessionDirectory
  replayCache: ReplayCache
  rateLimiter: BindRateLimiter
  remote: RemoteCalls
  /** Starts the fleet's own listeners and timers once the relay is listening. */
  start: (host: FleetHost) => Promise<void>
  /** Gives back every claim and stops; after the relay's sessions are closed. Idempotent. */
  close: () => Promise<void>
  /** Status for `GET /iicp/health`. */
  status: () => Record<string, unknown>
}

/** Where a call goes: a local session, or the fleet relay that owns the worker. */
export interface CallTarget {
  call: (taskJson: Bytes, options: CallOptions) => Promise<Buffer | ByteChunks>
  openStream: (taskJson: Uint8Array, ids: StreamIds, options: CallOptions) => AsyncIterableIterator<LifecycleEvent>
}

/**
 * The alive local session for `workerId`; without one, and in a fleet, the remote owner (which
 * answers ERR_SESSION_NOT_FOUND when no relay has the worker); else undefined.
 */
export function callTarget (registry: SessionRegistry, remote: RemoteCalls | undefined, workerId: string): CallTarget | undefined {
  const session = registry.alive(workerId)
  if (session !== undefined || remote === undefined) return session
  return {
    call: async (taskJson, options) => await remote.call(workerId, joinBytes(taskJson), options),
    openStream: (taskJson, ids, options) => remote.openStream(workerId, taskJson, ids, options)
  }
}
