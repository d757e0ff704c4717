/**
 * `npm run lab:direct`: the full pair matrix of direct paths in the NAT lab (root). For every
 * unordered pair of public, full cone, restricted cone, port restricted, symmetric, CGNAT and
 * ipv6-open (worker behind the first, iicp-connect behind the second), with TURN, plus every pair
 * that cannot punch again without TURN, plus udp-blocked: prints expected vs got path, time from
 * the first task to the direct/TURN path and the candidate pair; exits 1 on any mismatch or any
 * task without its answer.
 *
 * Usage: npx node test/ice/direct-matrix.ts [--only worker:consumer[,worker:consumer…]] [--concurrency N]
 */
import { parseArgs } from 'node:util'
import { LAB_BASE_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import type { TopologyName } from '../lab/topologies.ts'
import { MATRIX_TOPOLOGIES, expectedPath, punchable, runPair, startDirectLab, type PairResult } from './direct-lab.ts'

const { values } = parseArgs({ options: { only: { type: 'string' }, concurrency: { type: 'string', default: '3' } } })
const skip = labSkipReason(LAB_BASE_BINARIES)
if (skip !== undefined) {
  process.stderr.write(`lab:direct skipped: ${skip}\n`)
  process.exit(0)
}

interface Case { worker: TopologyName, consumer: TopologyName, turn: boolean }
const cases: Case[] = []
for (let i = 0; i < MATRIX_TOPOLOGIES.length; i++) {
  for (let j = i; j < MATRIX_TOPOLOGIES.length; j++) {
    const worker = MATRIX_TOPOLOGIES[i] as TopologyName
    const consumer = MATRIX_TOPOLOGIES[j] as TopologyName
    cases.push({ worker, consumer, turn: true })
    if (!punchable(worker, consumer)) cases.push({ worker, consumer, turn: false })
  }
}
cases.push({ worker: 'udp-blocked', consumer: 'full-cone', turn: true })
cases.push({ worker: 'port-restricted', consumer: 'udp-blocked', turn: true })
const only = values.only?.split(',')
const selected = only === undefined ? cases : cases.filter(c => only.includes(`${c.worker}:${c.consumer}`))

const dl = await startDirectLab()
const results: Array<PairResult & { expected: string }> = []
try {
  const queue = [...selected]
  await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      const expected = expectedPath(c.worker, c.consumer, c.turn)
      // Stop at the first upgrade; a pair that stays relayed runs 8 s (several failed-attempt deadlines fit).
      let r: PairResult
      try {
        r = await runPair(dl, c.worker, c.consumer, { turn: c.turn, untilUpgradedMs: 12_000, concurrency: 2 })
      } catch (err) {
        r = { ...c, path: 'error', timeToDirectMs: null, pair: '-', sent: 0, answered: 0, wrong: 1, paths: {}, errors: [String(err).slice(0, 300)], fallbacks: 0, status: {} }
      }
      results.push({ ...r, expected })
      process.stderr.write(`${c.worker} <-> ${c.consumer} turn=${c.turn}: ${r.path} (expected ${expected})\n`)
    }
  }))
} finally {
  await dl.close()
}

const pad = (s: string, n: number): string => s.padEnd(n)
const lines = [`${pad('worker', 16)} ${pad('consumer', 16)} ${pad('turn', 5)} ${pad('expected', 8)} ${pad('got', 7)} ${pad('ok', 3)} ${pad('t→path ms', 9)} ${pad('tasks ok/sent', 13)} pair`]
let bad = 0
const times: number[] = []
for (const r of results.sort((a, b) => `${a.worker}${a.consumer}${String(a.turn)}`.localeCompare(`${b.worker}${b.consumer}${String(b.turn)}`))) {
  const ok = r.path === r.expected && r.wrong === 0
  if (!ok) bad++
  if (r.timeToDirectMs !== null && r.path !== 'relay') times.push(r.timeToDirectMs)
  lines.push(`${pad(r.worker, 16)} ${pad(r.consumer, 16)} ${pad(r.turn ? 'yes' : 'no', 5)} ${pad(r.expected, 8)} ${pad(r.path, 7)} ${pad(ok ? 'ok' : 'NO', 3)} ${pad(String(r.timeToDirectMs ?? '-'), 9)} ${pad(`${r.answered}/${r.sent}`, 13)} ${r.pair}${r.errors.length > 0 ? `  errors: ${r.errors.join(' | ')}` : ''}`)
}
times.sort((a, b) => a - b)
const median = times.length === 0 ? '-' : String(times[Math.floor((times.length - 1) / 2)])
lines.push(`\n${results.length} cases, ${bad} mismatches; time from first task to direct/TURN path: median ${median} ms, max ${times.at(-1) ?? '-'} ms over ${times.length} upgrades`)
process.stdout.write(`${lines.join('\n')}\n`)
process.exitCode = bad === 0 ? 0 : 1
