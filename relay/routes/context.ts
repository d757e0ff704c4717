/** What the HTTP routes share: the relay's registry, forwarder, metrics and status. */
import type { RemoteCalls } from '../fleet-plugin.ts'
import type { Forwarder } from '../forwarder.ts'
import type { RelayMetrics } from '../metrics.ts'
import type { SessionRegistry } from '../session-registry.ts'

/** The relay's live status, as `GET /iicp/health` reports it. */
export interface RelayStatus {
  node_id: string
  sessions: number
  max_sessions: number
  pending_connections: number
  uptime_s: number
  version: string
  /** In a fleet: the fleet id, this relay's instance id, Redis reachability, leased sessions. */
  fleet?: Record<string, unknown>
}

/** Shared state of the HTTP routes. */
export interface RouteContext {
  registry: SessionRegistry
  forwarder: Forwarder
  metrics: RelayMetrics
  maxRequestBodyBytes: number
  /** False: `GET /metrics` answers 404 here (served on a separate listener). */
  metricsOnHttpFront: boolean
  status: () => RelayStatus
  /** In a fleet: workers bound to other relays of the fleet. */
  remote?: RemoteCalls | undefined
}
