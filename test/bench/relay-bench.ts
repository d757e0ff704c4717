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
 * is bounded in time and count. Each load is measured in `BENCH_SLICES` (default 3) rounds of
 * interleaved slices (direct, relayed, through the minimal reference relay of minimal-relay.ts,
 * and at c64 and c8 the raw floor), so that the host speeding up or slowing down during a run
 * hits both sides of a ratio alike; a process's cost counts only during its own path's slices.
 * Before the first load every path serves a JIT warm-up (jit-warmup.ts: 2,000 1 KiB requests at
 * c64, some 1 MiB ones, then `BENCH_JIT_WARMUP_REQUESTS`, default 40,000, 1 KiB at c8; 0 turns it
 * off), so the loads measure each process's steady state; the CPU its bulk cost is printed on its own.
 */
import { parseArgs } from 'node:util'
import { startChild, statsOf, stopChild, type BenchChild } from './children.ts'
import { runLoad, type LoadResult } from './load.ts'
import type { ProcessStats } from './process-stats.ts'
import { formatReport, type JitWarmup, type LoadRow, type ProcessCost } from './report.ts'
import { median } from './median.ts'
import { taskBody } from './echo.ts'
import { JIT_WARMUP_REQUESTS, jitWarmupLoads } from './jit-warmup.ts'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700)
/** Interleaved rounds per load: each path's DURATION_MS is cut into this many slices. */
const SLICES = Math.max(1, Math.min(10, Number(process.env.BENCH_SLICES ?? 3)))
/** Warm-up of the slices after the first (new keep-alive connections; the code is warm by then). */
const SLICE_WARMUP_MS = 200
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

/** One path's figures summed over its slices. */
interface PathAcc {
  requests: number
  total: number
  errors: number
  seconds: number
  p50s: number[]
  p99s: number[]
  /** Per child: CPU, system CPU, heap and external bytes allocated, GC time, summed over the slices. */
  costs: Array<{ cpuUs: number, sysUs: number, heap: number, external: number, gcUs: number }>
}

/** Runs one slice of load on `url` and adds it, and what `children` spent meanwhile, to `acc`. */
async function slice (acc: PathAcc, children: BenchChild[], url: URL, body: Buffer, concurrency: number, warmupMs: number): Promise<void> {
  // The first report resets each child's allocation and GC counters, so the second covers this slice only.
  const before = await Promise.all(children.map(statsOf))
  const r = await runLoad({ url, body, concurrency, durationMs: DURATION_MS / SLICES, warmupMs, maxRequests: MAX_REQUESTS })
  const after = await Promise.all(children.map(statsOf))
  acc.requests += r.requests
  acc.total += r.total
  acc.errors += r.errors
  acc.seconds += r.seconds
  acc.p50s.push(r.p50Ms)
  acc.p99s.push(r.p99Ms)
  for (const [i, a] of after.entries()) {
    const b = before[i] as ProcessStats
    const c = acc.costs[i] ??= { cpuUs: 0, sysUs: 0, heap: 0, external: 0, gcUs: 0 }
    c.cpuUs += a.cpuUs - b.cpuUs
    c.sysUs += a.sysUs - b.sysUs
    c.heap += a.heapAllocated
    c.external += a.externalAllocated
    c.gcUs += a.gcUs
  }
}

/** The load figures of a path (p50/p99: the median of its slices'). */
function loadOf (acc: PathAcc): LoadResult {
  return { requests: acc.requests, total: acc.total, errors: acc.errors, seconds: acc.seconds, reqPerSec: acc.requests / acc.seconds, p50Ms: median(acc.p50s), p99Ms: median(acc.p99s) }
}

/** Child `i`'s cost per request on this path, warm-up requests included. */
function costOf (acc: PathAcc, i: number): ProcessCost {
  const c = acc.costs[i] ?? { cpuUs: 0, sysUs: 0, heap: 0, external: 0, gcUs: 0 }
  const n = Math.max(1, acc.total)
  return { cpuUsPerRequest: c.cpuUs / n, sysUsPerRequest: c.sysUs / n, heapBytesPerRequest: c.heap / n, externalBytesPerRequest: c.external / n, gcUsPerRequest: c.gcUs / n }
}

/** A path the JIT warm-up serves: its URL, and under `name` the CPU of its children is reported. */
interface WarmPath { name?: 'echo' | 'relay' | 'minimal', url: URL, children: BenchChild[] }

/**
 * Serves each path the JIT warm-up (jit-warmup.ts), none of it counted in the
 * loads; returns each reported child's CPU per request over the 1 KiB part.
 */
async function warmUp (paths: WarmPath[]): Promise<JitWarmup | undefined> {
  const out: JitWarmup = { requests: 0, echo: [], relay: [], minimal: [] }
  for (const { name, url, children } of paths) {
    const loads = jitWarmupLoads(url)
    if (loads === undefined) return undefined
    await runLoad(loads.churn)
    await runLoad(loads.large)
    const before = await Promise.all(children.map(statsOf))
    const r = await runLoad(loads.small)
    const after = await Promise.all(children.map(statsOf))
    if (name !== undefined) out[name] = after.map((a, i) => (a.cpuUs - (before[i] as ProcessStats).cpuUs) / Math.max(1, r.total))
    out.requests = Math.max(out.requests, r.total)
  }
  return out
}

const emptyAcc = (): PathAcc => ({ requests: 0, total: 0, errors: 0, seconds: 0, p50s: [], p99s: [], costs: [] })

async function oneRun (): Promise<{ rows: LoadRow[], warmup: JitWarmup | undefined }> {
  const prof = flags['cpu-prof']
  const direct = await startChild(['direct'], prof)
  const relay = await startChild(['relay'], prof)
  const worker = await startChild(['worker', String(relay.info.relayPort)], prof)
  const minRelay = await startChild(['minimal-relay'], prof)
  const minWorker = await startChild(['minimal-worker', String(minRelay.info.relayPort)], prof)
  const minimalUrl = new URL(`http://127.0.0.1:${minRelay.info.httpPort}/v1/task`)
  const directUrl = new URL(`http://127.0.0.1:${direct.info.httpPort}/v1/task`)
  const rawUrl = new URL(`http://127.0.0.1:${direct.info.httpPort}/v1/raw`)
  const relayedUrl = new URL(`http://127.0.0.1:${relay.info.httpPort}/v1/relay-for/bench-worker/v1/task`)
  const rows: LoadRow[] = []
  let warmup: JitWarmup | undefined
  try {
    warmup = await warmUp([
      { name: 'echo', url: directUrl, children: [direct] },
      { url: rawUrl, children: [] },
      { name: 'relay', url: relayedUrl, children: [relay, worker] },
      { name: 'minimal', url: minimalUrl, children: [minRelay, minWorker] }
    ])
    for (const { size, bytes, concurrency } of selected) {
      const body = taskBody(bytes)
      const d = emptyAcc()
      const r = emptyAcc()
      const m = emptyAcc()
      // The raw floor (node:http with no JSON work) where a target is read against it.
      const raw = concurrency > 1 ? emptyAcc() : undefined
      for (let round = 0; round < SLICES; round++) {
        const warmupMs = round === 0 ? WARMUP_MS : SLICE_WARMUP_MS
        await slice(d, [direct], directUrl, body, concurrency, warmupMs)
        await slice(r, [relay, worker], relayedUrl, body, concurrency, warmupMs)
        await slice(m, [minRelay, minWorker], minimalUrl, body, concurrency, warmupMs)
        if (raw !== undefined) await slice(raw, [direct], rawUrl, body, concurrency, warmupMs)
      }
      const row: LoadRow = {
        size,
        concurrency,
        direct: loadOf(d),
        relayed: loadOf(r),
        echo: costOf(d, 0),
        relay: costOf(r, 0),
        worker: costOf(r, 1),
        minimal: { relayed: loadOf(m), relay: costOf(m, 0), worker: costOf(m, 1) }
      }
      if (raw !== undefined) row.floor = costOf(raw, 0)
      rows.push(row)
      process.stderr.write(`measured ${size} c=${concurrency}\n`)
    }
  } finally {
    await Promise.all([stopChild(worker), stopChild(direct), stopChild(minWorker)])
    await Promise.all([stopChild(relay), stopChild(minRelay)])
  }
  return { rows, warmup }
}

const all: LoadRow[][] = []
const warmups: JitWarmup[] = []
for (let i = 0; i < runs; i++) {
  if (runs > 1) process.stderr.write(`run ${i + 1}/${runs}\n`)
  const { rows, warmup } = await oneRun()
  all.push(rows)
  if (warmup !== undefined) warmups.push(warmup)
}
const header = { node: process.version, durationMs: DURATION_MS, warmupMs: WARMUP_MS, jitWarmupRequests: JIT_WARMUP_REQUESTS, slices: SLICES, runs }
process.stdout.write(flags.json ? `${JSON.stringify({ ...header, runs: all, jitWarmup: warmups }, null, 2)}\n` : formatReport(header, all, warmups))
