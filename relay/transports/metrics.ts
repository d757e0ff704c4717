/**
 * Per-transport relay metrics, in the relay's own registry: connections accepted and open,
 * and bind outcomes, labelled `transport` = tcp | tls | ws | wss | long-poll.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Duplex } from 'node:stream'
import type { RelayTransport } from '../accept-server.ts'
import type { BindOutcome } from '../metrics.ts'

const TRANSPORTS: readonly RelayTransport[] = ['tcp', 'tls', 'ws', 'wss', 'long-poll']

/** Recorders for the transport metrics. */
export interface TransportMetrics {
  /** Counts a connection and keeps it in the open gauge until it closes. */
  connection: (stream: Duplex, transport: RelayTransport) => void
  /** Counts one bind decision. */
  bind: (outcome: BindOutcome, transport: RelayTransport) => void
}

/** Registers the transport metrics in `registry`. */
export function createTransportMetrics (registry: Registry): TransportMetrics {
  const registers = [registry]
  const accepted = new Counter({ name: 'iicp_relay_transport_connections_total', help: 'Relay-accept connections by transport', labelNames: ['transport'] as const, registers })
  const open = new Gauge({ name: 'iicp_relay_transport_connections', help: 'Open relay-accept connections by transport', labelNames: ['transport'] as const, registers })
  const binds = new Counter({ name: 'iicp_relay_transport_binds_total', help: 'Bind decisions by transport and outcome', labelNames: ['transport', 'outcome'] as const, registers })
  for (const t of TRANSPORTS) {
    accepted.labels(t).inc(0)
    open.labels(t).set(0)
  }
  return {
    connection: (stream, transport) => {
      accepted.labels(transport).inc()
      open.labels(transport).inc()
      stream.once('close', () => { open.labels(transport).dec() })
    },
    bind: (outcome, transport) => { binds.labels(transport, outcome).inc() }
  }
}
