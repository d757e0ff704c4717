/**
 * The node's Prometheus text (`GET /metrics` on its front): the serving rung, transitions, lease
 * and registration state, tasks running, all read from the health status.
 */
import { RUNGS } from './rungs.ts'

const REGISTRATION_STATES = ['off', 'pending', 'registered', 'refused', 'deregistered'] as const

/** Renders `status` (ReachNode.status()) as Prometheus text. */
export function reachMetrics (status: Record<string, unknown>): string {
  const rung = status.rung
  const reg = (status.registration ?? {}) as Record<string, unknown>
  const rungState = (status.rung_state ?? {}) as Record<string, unknown>
  const leases = Array.isArray(rungState.leases) ? rungState.leases as Array<Record<string, unknown>> : []
  const lines = [
    '# HELP iicp_reach_rung 1 for the rung that serves now.',
    '# TYPE iicp_reach_rung gauge',
    ...RUNGS.map(r => `iicp_reach_rung{rung="${r}"} ${rung === r ? 1 : 0}`),
    '# HELP iicp_reach_transitions_total Moves between rungs (including losing and regaining one).',
    '# TYPE iicp_reach_transitions_total counter',
    `iicp_reach_transitions_total ${Number(status.transitions_total ?? 0)}`,
    '# HELP iicp_reach_leases Router leases held (mapping, pinhole).',
    '# TYPE iicp_reach_leases gauge',
    `iicp_reach_leases ${leases.length}`,
    '# HELP iicp_reach_lease_renewals_total Successful renewals of the held leases.',
    '# TYPE iicp_reach_lease_renewals_total counter',
    `iicp_reach_lease_renewals_total ${leases.reduce((n, l) => n + Number(l.renewals ?? 0), 0)}`,
    '# HELP iicp_reach_registration 1 for the directory registration state.',
    '# TYPE iicp_reach_registration gauge',
    ...REGISTRATION_STATES.map(s => `iicp_reach_registration{state="${s}"} ${reg.state === s ? 1 : 0}`),
    '# HELP iicp_reach_registrations_total Accepted directory registrations.',
    '# TYPE iicp_reach_registrations_total counter',
    `iicp_reach_registrations_total ${Number(reg.registrations ?? 0)}`,
    '# HELP iicp_reach_tasks_running Tasks running on any rung.',
    '# TYPE iicp_reach_tasks_running gauge',
    `iicp_reach_tasks_running ${Number(status.tasks_running ?? 0)}`
  ]
  return lines.join('\n') + '\n'
}
