/**
 * `npm run lab:verdicts`: the whole NAT lab, every topology probed read-only N times in a row
 * (default 3), the verdicts compared with each topology's ground truth and with each other, and
 * the probe's own duration (`duration_ms`, the probe's work without Node's start-up) reported
 * as a median. Prints one table row per topology:
 *
 *   topology  expected  got (runs)  stable  exit  median ms
 *
 * Exits 1 when any verdict is wrong or differs between runs. Root only (skips otherwise).
 *   npx node test/lab/verdicts-campaign.ts [--runs N] [--only name,name]
 */
import { parseArgs } from 'node:util'
import { labSkipReason } from '../helpers/lab-env.ts'
import { probeArgs, runProbe, type ProbeRun } from '../helpers/lab-probe.ts'
import { createLab, type Lab } from './lab.ts'
import { TOPOLOGY_NAMES, isTopologyName, type GroundTruth, type TopologyName } from './topologies.ts'

const PORT = 9484
/** Topologies probed at once. */
const CONCURRENCY = 4

/** The spec §1.6 exposure mode and exit code for a topology's ground truth. */
function expected (truth: GroundTruth): { mode: string, exit: number } {
  const v4 = truth.inboundV4Open
  const v6 = truth.inboundV6Open === true
  if (v4 && v6) return { mode: 'dual_stack_available', exit: 0 }
  if (v4) return { mode: 'ipv4_public_direct', exit: 0 }
  if (v6) return { mode: 'ipv6_direct_pinhole_available', exit: 0 }
  if (truth.inboundV6Open === false) return { mode: 'ipv6_direct_firewall_required', exit: 1 }
  if (truth.cgnat) return { mode: 'ipv4_cgnat_blocked', exit: 1 }
  return { mode: 'outbound_only', exit: 1 }
}

/** One run's verdict as a comparable string. */
function verdictOf (r: ProbeRun): string {
  const p = r.report
  return `${p.exposure_mode}/${p.nat_type}/${p.verification}/cgnat=${String(p.cgnat.detected)}/exit=${String(r.exitCode)}`
}

interface Row { name: TopologyName, want: string, verdicts: string[], ok: boolean, stable: boolean, median: number, times: number[] }

async function probeTopology (lab: Lab, name: TopologyName, runs: number): Promise<Row> {
  const topo = await lab.addTopology(name)
  try {
    const truth = expected(topo.truth)
    const want = `${truth.mode}/${topo.truth.natType}/${truth.exit === 0 ? 'verified' : 'self_attested'}/cgnat=${String(topo.truth.cgnat)}/exit=${truth.exit}`
    const verdicts: string[] = []
    const times: number[] = []
    for (let i = 0; i < runs; i++) {
      await topo.resetState()
      const r = await runProbe(topo.clientNs, probeArgs(lab, topo, PORT))
      verdicts.push(verdictOf(r))
      times.push(r.report.duration_ms)
    }
    const sorted = [...times].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0
    return { name, want, verdicts, ok: verdicts.every(v => v === want), stable: new Set(verdicts).size === 1, median, times }
  } finally {
    await lab.removeTopology(topo)
  }
}

async function main (): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, only: { type: 'string' } } })
  const skip = labSkipReason()
  if (skip !== undefined) {
    process.stdout.write(`skipped: ${skip}\n`)
    return 0
  }
  const runs = Math.max(1, Number(values.runs))
  const names = values.only === undefined ? [...TOPOLOGY_NAMES] : values.only.split(',').filter(isTopologyName)
  const lab = await createLab()
  const rows: Row[] = []
  try {
    const queue = [...names]
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) rows.push(await probeTopology(lab, name, runs))
    }))
  } finally {
    await lab.close()
  }
  rows.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name))
  const line = (cols: string[]): string => `| ${cols.join(' | ')} |`
  const out = [line(['topology', 'expected (mode/nat/verification/cgnat/exit)', `got (${runs} runs)`, 'stable', 'median ms', 'runs ms']), line(['---', '---', '---', '---', '---', '---'])]
  for (const r of rows) {
    const got = r.stable ? (r.verdicts[0] ?? '') : r.verdicts.join(' ; ')
    out.push(line([r.name, r.want, `${r.ok ? 'ok' : 'WRONG'} ${got}`, r.stable ? 'yes' : 'NO', String(r.median), r.times.join(',')]))
  }
  process.stdout.write(`${out.join('\n')}\n`)
  return rows.every(r => r.ok && r.stable) ? 0 : 1
}

main().then(code => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
