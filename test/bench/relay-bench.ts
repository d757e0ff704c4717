/**
 * `npm run bench`: the same echo handler served directly over HTTP and through relay + worker,
 * in one run, for 1 KiB at concurrency 1 and 64 and 1 MiB at 1 and 8. Prints req/s, p50/p99,
 * the relayed/direct ratios, and the CPU and allocations per request of each process (echo
 * server, relay, worker), so the issue-13 targets read straight off the output.
 *
 * Flags: `--json` (one JSON document instead of the table), `--runs N` (repeat, report medians
 * and ranges), `--load 1KiB-c64` (only that load; repeatable), `--cpu-prof DIR` (each child
 * writes a V8 CPU profile into DIR). Servers run in
 * child processes, the load generator in this one; everything stays on 127.0.0.1 and every run
 * is bounded in time and count.
 */
import { parseArgs } from 'node:util'
import { startChild, statsOf, stopChild, type BenchChild } from './children.ts'
import { runLoad } from './load.ts'
import type { ProcessStats } from './process-stats.ts'
import { formatReport, type LoadRow, type ProcessCost } from './report.ts'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700)
const MAX_REQUESTS = 200_000
const LOADS = [
  { size: '1 KiB', bytes: 1024, concurrency: 1 },
  { size: '1 KiB', bytes: 1024, concurrency: 64 },
  { size: '1 MiB', bytes: 1024 * 1024, concurrency: 1 },
  { size: '1 MiB', bytes: 1024 * 1024, concurrency: 8 }
] as const

const { values: flags } = parseArgs({
  options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '1' }, 'cpu-prof': { type: 'string' }, load: { type: 'string', multiple: true } }
})
/** `--load 1KiB-c64` (repeatable) runs only the named loads. */
const selected = LOADS.filter(l => flags.load === undefined || flags.load.includes(`${l.size.replace(' ', '')}-c${l.concurrency}`))
const runs = Math.max(1, Math.min(10, Number(flags.runs) || 1))

function taskBody (payloadBytes: number): Buffer {
  return Buffer.from(JSON.stringify({ task_id: 'bench-1', intent: 'urn:iicp:intent:bench:echo:v1', payload: { data: 'x'.repeat(payloadBytes) } }))
}

function costOf (before: ProcessStats, after: ProcessStats, requests: number): ProcessCost {
  return {
    cpuUsPerRequest: (after.cpuUs - before.cpuUs) / requests,
    sysUsPerRequest: (after.sysUs - before.sysUs) / requests,
    heapBytesPerRequest: after.heapAllocated / requests,
    externalBytesPerRequest: after.externalAllocated / requests,
    gcUsPerRequest: after.gcUs / requests
  }
}

/** Runs `load` against `url` and measures the cost of `children` over the whole run, warm-up included. */
async function measured (children: BenchChild[], url: URL, body: Buffer, concurrency: number): Promise<{ load: Awaited<ReturnType<typeof runLoad>>, costs: ProcessCost[] }> {
  const before = await Promise.all(children.map(statsOf))
  const load = await runLoad({ url, body, concurrency, durationMs: DURATION_MS, warmupMs: WARMUP_MS, maxRequests: MAX_REQUESTS })
  const after = await Promise.all(children.map(statsOf))
  return { load, costs: children.map((_, i) => costOf(before[i] as ProcessStats, after[i] as ProcessStats, Math.max(1, load.total))) }
}

async function oneRun (): Promise<LoadRow[]> {
  const prof = flags['cpu-prof']
  const direct = await startChild(['direct'], prof)
  const relay = await startChild(['relay'], prof)
  const worker = await startChild(['worker', String(relay.info.relayPort)], prof)
  const directUrl = new URL(`http://127.0.0.1:${direct.info.httpPort}/v1/task`)
  const rawUrl = new URL(`http://127.0.0.1:${direct.info.httpPort}/v1/raw`)
  const relayedUrl = new URL(`http://127.0.0.1:${relay.info.httpPort}/v1/relay-for/bench-worker/v1/task`)
  const rows: LoadRow[] = []
  try {
    for (const { size, bytes, concurrency } of selected) {
      const body = taskBody(bytes)
      const d = await measured([direct], directUrl, body, concurrency)
      const r = await measured([relay, worker], relayedUrl, body, concurrency)
      const row: LoadRow = { size, concurrency, direct: d.load, relayed: r.load, echo: d.costs[0] as ProcessCost, relay: r.costs[0] as ProcessCost, worker: r.costs[1] as ProcessCost }
      if (bytes === 1024 && concurrency === 64) row.floor = (await measured([direct], rawUrl, body, concurrency)).costs[0] as ProcessCost
      rows.push(row)
      process.stderr.write(`measured ${size} c=${concurrency}\n`)
    }
  } finally {
    await Promise.all([stopChild(worker), stopChild(direct)])
    await stopChild(relay)
  }
  return rows
}

const all: LoadRow[][] = []
for (let i = 0; i < runs; i++) {
  if (runs > 1) process.stderr.write(`run ${i + 1}/${runs}\n`)
  all.push(await oneRun())
}
const header = { node: process.version, durationMs: DURATION_MS, warmupMs: WARMUP_MS, runs }
process.stdout.write(flags.json ? `${JSON.stringify({ ...header, runs: all }, null, 2)}\n` : formatReport(header, all))
