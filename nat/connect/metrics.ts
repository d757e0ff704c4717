/**
 * Prometheus metrics of one consumer client (`GET /metrics` on iicp-connect's local listener), in
 * a registry of their own. Values are read from the client's status at scrape time, so the task
 * path pays nothing for them. Labels are low-cardinality: path, direction, upgrade result and the
 * selected pair's candidate types.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { ConnectClient } from './client.ts'
import type { PathKind } from './status.ts'

const PATHS: readonly PathKind[] = ['direct', 'turn', 'relay']

/** Creates the registry for `client`; scraping it snapshots `client.status()` once. */
export function createConnectMetrics (client: ConnectClient): Registry {
  const registry = new Registry()
  // One snapshot per scrape: collect() runs once per metric, the status is taken by the first.
  let cached: { at: number, status: ReturnType<ConnectClient['status']> } | undefined
  const status = (): ReturnType<ConnectClient['status']> => {
    const now = performance.now()
    if (cached === undefined || now - cached.at > 100) cached = { at: now, status: client.status() }
    return cached.status
  }
  new Gauge({
    name: 'iicp_connect_path',
    help: 'The path new tasks take now (1 for the current one).',
    labelNames: ['path'],
    registers: [registry],
    collect () { const s = status(); for (const p of PATHS) this.set({ path: p }, s.path === p ? 1 : 0) }
  })
  new Gauge({
    name: 'iicp_connect_candidate_pair',
    help: 'Candidate types of the selected pair of the open direct or TURN channel (1 while open).',
    labelNames: ['local_type', 'remote_type'],
    registers: [registry],
    collect () {
      this.reset()
      const pair = status().channel?.pair
      if (pair != null) this.set({ local_type: pair.local.type, remote_type: pair.remote.type }, 1)
    }
  })
  new Gauge({
    name: 'iicp_connect_rtt_seconds',
    help: 'Last keepalive round trip on the open channel.',
    registers: [registry],
    collect () {
      this.reset()
      const rtt = status().channel?.rtt_ms
      if (rtt != null) this.set(rtt / 1000)
    }
  })
  new Gauge({
    name: 'iicp_connect_in_flight',
    help: 'Tasks waiting for their answer on the open channel.',
    registers: [registry],
    collect () { this.set(status().channel?.in_flight ?? 0) }
  })
  new Counter({
    name: 'iicp_connect_upgrades_total',
    help: 'Finished upgrade attempts (ICE offers through the relay) by result.',
    labelNames: ['result'],
    registers: [registry],
    collect () {
      const u = status().upgrades
      this.reset()
      this.inc({ result: 'succeeded' }, u.succeeded)
      this.inc({ result: 'failed' }, u.failed)
    }
  })
  new Counter({
    name: 'iicp_connect_fallbacks_total',
    help: 'Open channels abandoned (stopped answering or closed); new tasks went back to the relay.',
    registers: [registry],
    collect () { this.reset(); this.inc(status().fallbacks) }
  })
  new Counter({
    name: 'iicp_connect_retried_tasks_total',
    help: 'Tasks re-sent through the relay after their channel died.',
    registers: [registry],
    collect () { this.reset(); this.inc(status().retried_tasks) }
  })
  new Counter({
    name: 'iicp_connect_rebind_waits_total',
    help: 'Tasks that found the worker re-binding to the relay (404 IICP-E030 after it had answered, or 502 IICP-E031 on a ledger retry) and waited for it.',
    registers: [registry],
    collect () { this.reset(); this.inc(status().rebind_waits) }
  })
  new Counter({
    name: 'iicp_connect_tasks_total',
    help: 'Tasks answered, by the path that carried them.',
    labelNames: ['path'],
    registers: [registry],
    collect () { const s = status(); this.reset(); for (const p of PATHS) this.inc({ path: p }, s.paths[p].tasks) }
  })
  new Counter({
    name: 'iicp_connect_bytes_total',
    help: 'Task and answer body bytes, by path and direction.',
    labelNames: ['path', 'direction'],
    registers: [registry],
    collect () {
      const s = status()
      this.reset()
      for (const p of PATHS) {
        this.inc({ path: p, direction: 'sent' }, s.paths[p].bytes_sent)
        this.inc({ path: p, direction: 'received' }, s.paths[p].bytes_received)
      }
    }
  })
  new Gauge({
    name: 'iicp_connect_time_to_direct_seconds',
    help: 'Time from the first task to the first open direct or TURN channel.',
    registers: [registry],
    collect () {
      this.reset()
      const t = status().time_to_direct_ms
      if (t !== null) this.set(t / 1000)
    }
  })
  return registry
}
