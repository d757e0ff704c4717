/**
 * The relay's Prometheus metrics, in a Registry owned by one relay instance. Labels never
 * carry worker ids or IP addresses, so cardinality is fixed.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Why a bind ended the way it did (`iicp_relay_binds_total{outcome}`). */
export type BindOutcome = 'ok' | 'worker_id_invalid' | 'ticket_invalid' | 'ticket_required' | 'already_bound' | 'rate_limited' | 'capacity' | 'replayed'

/** How a forwarded call ended (`iicp_relay_calls_total{outcome}`). */
export type CallOutcome = 'ok' | 'worker_error' | 'bad_result' | 'timeout' | 'session_closed' | 'busy' | 'no_session' | 'aborted'

const BIND_OUTCOMES: readonly BindOutcome[] = ['ok', 'worker_id_invalid', 'ticket_invalid', 'ticket_required', 'already_bound', 'rate_limited', 'capacity', 'replayed']
const CALL_OUTCOMES: readonly CallOutcome[] = ['ok', 'worker_error', 'bad_result', 'timeout', 'session_closed', 'busy', 'no_session', 'aborted']

/** Live figures the gauges read at scrape time. */
export interface RelayGaugeSources {
  sessions: () => number
  pendingConnections: () => number
  maxSessions: number
}

/** The relay's metrics and cheap recorders for the hot path. */
export interface RelayMetrics {
  /** The Prometheus registry (serve it with `registry.metrics()`). */
  readonly registry: Registry
  /** Counts one bind outcome. */
  bind: (outcome: BindOutcome) => void
  /** Counts one call outcome and, for calls that reached a worker, its duration. */
  call: (outcome: CallOutcome, seconds?: number) => void
  /** Counts bytes received from workers on the relay port. */
  bytesIn: (n: number) => void
  /** Counts bytes sent to workers on the relay port. */
  bytesOut: (n: number) => void
}

/**
 * A counter with one label whose counts are plain numbers on the hot path, folded into the
 * prom-client counter from its `collect()`, which runs whenever the registry is read (a scrape):
 * a prom-client child counter hashes and validates its label object on every `inc`. Every
 * series exists (at 0) from the start. Returns the function that counts `n` for a label value.
 */
function batchedCounter<V extends string> (name: string, help: string, labelName: string, values: readonly V[], registers: Registry[]): (value: V, n: number) => void {
  const pending = Object.fromEntries(values.map(v => [v, 0])) as Record<V, number>
  const counter: Counter = new Counter({
    name,
    help,
    labelNames: [labelName],
    registers,
    collect () {
      for (const v of values) {
        if (pending[v] === 0) continue
        counter.labels(v).inc(pending[v])
        pending[v] = 0
      }
    }
  })
  for (const v of values) counter.labels(v).inc(0)
  return (value, n) => { pending[value] += n }
}

/** Observations a {@link batchedHistogram} keeps before it hands them to prom-client. */
const HISTOGRAM_BATCH = 512

/**
 * A histogram whose observations are kept in a fixed buffer on the hot path and handed to the
 * prom-client histogram in batches: when the buffer is full, and from its `collect()`, so a scrape
 * sees every one. prom-client's `observe` builds and validates a label object and turns the
 * bucket bound into a property key on every call; on a relay at one call at a time that cost a
 * few µs per task in a cold cache (README, Benchmark), in a batch it runs hot. Returns the
 * function that observes one value.
 */
function batchedHistogram (options: { name: string, help: string, buckets: number[], registers: Registry[] }): (value: number) => void {
  const pending = new Float64Array(HISTOGRAM_BATCH)
  let count = 0
  const flush = (): void => {
    for (let i = 0; i < count; i++) histogram.observe(pending[i] as number)
    count = 0
  }
  const histogram: Histogram = new Histogram({ ...options, collect: flush })
  return value => {
    pending[count++] = value
    if (count === HISTOGRAM_BATCH) flush()
  }
}

/** Creates one relay's metrics. */
export function createRelayMetrics (sources: RelayGaugeSources): RelayMetrics {
  const registry = new Registry()
  const registers = [registry]
  new Gauge({ name: 'iicp_relay_sessions', help: 'Bound worker sessions', registers, collect () { this.set(sources.sessions()) } })
  new Gauge({ name: 'iicp_relay_max_sessions', help: 'Configured session capacity', registers, collect () { this.set(sources.maxSessions) } })
  new Gauge({ name: 'iicp_relay_pending_connections', help: 'Relay-port connections still handshaking', registers, collect () { this.set(sources.pendingConnections()) } })
  const binds = new Counter({ name: 'iicp_relay_binds_total', help: 'RELAY_BIND attempts by outcome', labelNames: ['outcome'] as const, registers })
  const calls = batchedCounter('iicp_relay_calls_total', 'Forwarded calls by outcome', 'outcome', CALL_OUTCOMES, registers)
  const observeDuration = batchedHistogram({
    name: 'iicp_relay_call_duration_seconds',
    help: 'Time from forwarding a call to its answer (calls that reached a worker)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers
  })
  const bytes = batchedCounter('iicp_relay_bytes_total', 'Relay-port bytes by direction (in = from workers, out = to workers)', 'direction', ['in', 'out'] as const, registers)
  // Zero-initialised so every series exists from the start.
  const bindChild = new Map(BIND_OUTCOMES.map(o => [o, binds.labels(o)]))
  for (const c of bindChild.values()) c.inc(0)
  return {
    registry,
    bind: outcome => { bindChild.get(outcome)?.inc() },
    call: (outcome, seconds) => {
      calls(outcome, 1)
      if (seconds !== undefined) observeDuration(seconds)
    },
    bytesIn: n => { bytes('in', n) },
    bytesOut: n => { bytes('out', n) }
  }
}
