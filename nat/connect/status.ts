/**
 * The consumer's counters and the `GET /iicp/connect/status` document: the path new tasks take,
 * the selected candidate pair, RTT, upgrade attempts, fallbacks, time from the first task to the
 * first direct/TURN channel, and tasks and bytes per path.
 */
import type { CandidatePair } from '../../src/transport/ice/types.ts'
import type { DirectChannel } from './direct-channel.ts'

/** The path a task took. */
export type PathKind = 'direct' | 'turn' | 'relay'

/** Task and byte counters of one path. */
export interface PathCounters {
  tasks: number
  bytes_sent: number
  bytes_received: number
}

/** The status document. */
export interface ConnectStatus {
  worker: string
  relay: string
  backend: string
  direct_enabled: boolean
  /** The path new tasks take now. */
  path: PathKind
  channel: {
    peer_id: string
    kind: 'direct' | 'turn'
    pair: CandidatePair | null
    rtt_ms: number | null
    in_flight: number
    open_for_ms: number
  } | null
  upgrades: { attempts: number, succeeded: number, failed: number }
  /** Channels abandoned after they stopped answering or closed. */
  fallbacks: number
  /** Tasks re-sent through the relay after their channel died. */
  retried_tasks: number
  /** Tasks that found the worker re-binding (404 IICP-E030 after it had answered, or 502 IICP-E031 on a ledger retry) and waited for it. */
  rebind_waits: number
  /** Milliseconds from the first task to the first open channel. */
  time_to_direct_ms: number | null
  last_error: string | null
  last_fallback_reason: string | null
  next_attempt_in_ms: number | null
  paths: Record<PathKind, PathCounters>
}

/** Mutable counters behind {@link ConnectStatus}. */
export interface ConnectStats {
  upgrades: { attempts: number, succeeded: number, failed: number }
  retried: number
  rebindWaits: number
  lastError: string | undefined
  nextAttemptAt: number | undefined
  noteFirstTask: () => void
  task: (path: PathKind, sent: number, received: number) => void
  opened: (channel: DirectChannel) => void
  lost: (reason: string) => void
  snapshot: (channel: DirectChannel | undefined) => ConnectStatus
}

/** Creates the counters of one client. */
export function createConnectStats (worker: string, relay: string, backend: string, directEnabled: boolean): ConnectStats {
  const paths: Record<PathKind, PathCounters> = {
    direct: { tasks: 0, bytes_sent: 0, bytes_received: 0 },
    turn: { tasks: 0, bytes_sent: 0, bytes_received: 0 },
    relay: { tasks: 0, bytes_sent: 0, bytes_received: 0 }
  }
  let firstTaskAt: number | undefined
  let timeToDirect: number | undefined
  let openedAt = 0
  let fallbacks = 0
  let lastFallback: string | undefined
  const stats: ConnectStats = {
    upgrades: { attempts: 0, succeeded: 0, failed: 0 },
    retried: 0,
    rebindWaits: 0,
    lastError: undefined,
    nextAttemptAt: undefined,
    noteFirstTask: () => { firstTaskAt ??= performance.now() },
    task: (path, sent, received) => {
      const c = paths[path]
      c.tasks++
      c.bytes_sent += sent
      c.bytes_received += received
    },
    opened: () => {
      openedAt = performance.now()
      stats.upgrades.succeeded++
      if (timeToDirect === undefined && firstTaskAt !== undefined) timeToDirect = openedAt - firstTaskAt
    },
    lost: reason => {
      if (reason === 'closing') return
      fallbacks++
      lastFallback = reason
    },
    snapshot: channel => ({
      worker,
      relay,
      backend,
      direct_enabled: directEnabled,
      path: channel?.kind ?? 'relay',
      channel: channel === undefined
        ? null
        : {
            peer_id: channel.peerId,
            kind: channel.kind,
            pair: channel.pair ?? null,
            rtt_ms: channel.rttMs === undefined ? null : Math.round(channel.rttMs * 100) / 100,
            in_flight: channel.inFlight,
            open_for_ms: Math.round(performance.now() - openedAt)
          },
      upgrades: { ...stats.upgrades },
      fallbacks,
      retried_tasks: stats.retried,
      rebind_waits: stats.rebindWaits,
      time_to_direct_ms: timeToDirect === undefined ? null : Math.round(timeToDirect),
      last_error: stats.lastError ?? null,
      last_fallback_reason: lastFallback ?? null,
      next_attempt_in_ms: channel === undefined && stats.nextAttemptAt !== undefined ? Math.max(0, stats.nextAttemptAt - Date.now()) : null,
      paths: { direct: { ...paths.direct }, turn: { ...paths.turn }, relay: { ...paths.relay } }
    })
  }
  return stats
}
