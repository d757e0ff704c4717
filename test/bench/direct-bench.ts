/**
 * Direct-path benchmark on loopback (`npm run bench:direct`, also run by `npm run bench`): the same
 * echo task over three paths, each behind an HTTP endpoint the load generator (this process) calls:
 *   direct HTTP    — the echo handler served straight over HTTP (no relay: the floor)
 *   relayed        — POST /v1/relay-for/{wid}/v1/task on a relay, tunnelled to the worker over TCP
 *   direct channel — POST /v1/task on an iicp-connect gateway whose client has upgraded to the
 *                    ICE/SCTP data channel (node-datachannel) to the same worker
 * As deployed, every server is its own process: direct HTTP node, relay, worker (which serves the
 * relayed path and the direct channel alike) and gateway. Loads: 1 KiB at c1 and c64, 1 MiB at
 * c1. Each row is measured in interleaved slices so that load drift on a shared machine hits
 * every path alike; compare paths within one run. Before the first load every path serves the JIT
 * warm-up of jit-warmup.ts (not counted). CPU µs/req is the CPU time (all threads) of the path's
 * processes per request, each slice's short warm-up included, with each process's share.
 *
 * Flags: `--runs N` (repeat the whole table), `--load 1KiB-c64` (only that load; repeatable), `--cpu-prof DIR` (every child writes a V8 CPU
 * profile into DIR). Env: IICP_BENCH_SECONDS (measured seconds per row, default 4). Everything
 * stays on 127.0.0.1; every load is bounded in time and count.
 */
import { parseArgs } from 'node:util'
import { startChild, statsOf, stopChild, type BenchChild } from './children.ts'
import { runLoad } from './load.ts'
import { measureChannelFloor } from './channel-floor.ts'
import { median } from './median.ts'
import { taskBody } from './echo.ts'
import { jitWarmupDescription, jitWarmupLoads } from './jit-warmup.ts'

const HOST = '127.0.0.1'
const WORKER_ID = 'bench-direct'
const DURATION_MS = Number(process.env.IICP_BENCH_SECONDS ?? '4') * 1000
/** Slices per row, interleaved with the other paths. */
const ROUNDS = 3
const WARMUP_MS = 300
const MAX_REQUESTS = 1_000_000
const LOADS = [
  { name: '1 KiB c1', bytes: 1024, concurrency: 1 },
  { name: '1 KiB c64', bytes: 1024, concurrency: 64 },
  { name: '1 MiB c1', bytes: 1024 * 1024, concurrency: 1 }
] as const
const SERVER = new URL('./direct-bench-server.ts', import.meta.url)

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '1' }, 'cpu-prof': { type: 'string' }, load: { type: 'string', multiple: true } } })
/** `--load 1KiB-c64` (repeatable) runs only the named loads. */
const selected = LOADS.filter(l => flags.load === undefined || flags.load.includes(l.name.replace(' ', '').replace(' ', '-')))
const runs = Math.max(1, Math.min(10, Number(flags.runs) || 1))

interface Path { name: string, url: URL, children: Array<BenchChild & { name: string }> }
interface Cell { requests: number, seconds: number, errors: number, p50s: number[], p99s: number[], cpuUs: number[], total: number }

/** One slice of `load` on `path`, with the CPU its processes spent on it. */
async function slice (path: Path, body: Buffer, concurrency: number, cell: Cell): Promise<void> {
  const before = await Promise.all(path.children.map(statsOf))
  const r = await runLoad({ url: path.url, body, concurrency, durationMs: DURATION_MS / ROUNDS, warmupMs: WARMUP_MS, maxRequests: MAX_REQUESTS })
  const after = await Promise.all(path.children.map(statsOf))
  cell.requests += r.requests
  cell.seconds += r.seconds
  cell.errors += r.errors
  cell.p50s.push(r.p50Ms)
  cell.p99s.push(r.p99Ms)
  cell.total += r.total
  for (const [i, a] of after.entries()) cell.cpuUs[i] = (cell.cpuUs[i] ?? 0) + a.cpuUs - (before[i]?.cpuUs ?? 0)
}

async function oneRun (): Promise<string[]> {
  const prof = flags['cpu-prof']
  const direct = await startChild(['direct'], prof)
  const relay = await startChild(['relay'], prof)
  const children = [direct, relay]
  try {
    const worker = await startChild(['worker', String(relay.info.relayPort), WORKER_ID], prof, SERVER)
    children.push(worker)
    const gateway = await startChild(['gateway', String(relay.info.httpPort), WORKER_ID], prof, SERVER)
    children.push(gateway)
    const paths: Path[] = [
      { name: 'direct HTTP', url: new URL(`http://${HOST}:${direct.info.httpPort}/v1/task`), children: [{ ...direct, name: 'node' }] },
      { name: 'relayed', url: new URL(`http://${HOST}:${relay.info.httpPort}/v1/relay-for/${WORKER_ID}/v1/task`), children: [{ ...relay, name: 'relay' }, { ...worker, name: 'worker' }] },
      { name: 'direct channel', url: new URL(`http://${HOST}:${gateway.info.httpPort}/v1/task`), children: [{ ...gateway, name: 'gateway' }, { ...worker, name: 'worker' }] }
    ]
    for (const p of paths) {
      const warm = jitWarmupLoads(p.url)
      if (warm === undefined) break
      await runLoad(warm.churn)
      await runLoad(warm.large)
      await runLoad(warm.small)
    }
    const lines = ['load        path              req/s   p50 ms   p99 ms    MiB/s  errors  vs relayed                 CPU µs/req']
    for (const load of selected) {
      const body = taskBody(load.bytes)
      const cells = paths.map((): Cell => ({ requests: 0, seconds: 0, errors: 0, p50s: [], p99s: [], cpuUs: [], total: 0 }))
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, p] of paths.entries()) await slice(p, body, load.concurrency, cells[i] as Cell)
      }
      const relayedRps = (cells[1] as Cell).requests / (cells[1] as Cell).seconds
      const relayedP50 = median((cells[1] as Cell).p50s)
      for (const [i, p] of paths.entries()) {
        const c = cells[i] as Cell
        const rps = c.requests / c.seconds
        const p50 = median(c.p50s)
        const vs = i === 0 ? '' : `${(rps / relayedRps).toFixed(2)}× req/s, p50 ${(p50 / relayedP50).toFixed(2)}×`
        const perReq = c.cpuUs.map(us => us / Math.max(1, c.total))
        const cpu = `${perReq.reduce((a, b) => a + b, 0).toFixed(0)} (${p.children.map((ch, k) => `${ch.name} ${(perReq[k] ?? 0).toFixed(0)}`).join(' + ')})`
        lines.push(`${load.name.padEnd(11)} ${p.name.padEnd(15)} ${rps.toFixed(0).padStart(7)} ${p50.toFixed(2).padStart(8)} ${median(c.p99s).toFixed(2).padStart(8)} ${((rps * load.bytes) / 2 ** 20).toFixed(1).padStart(8)} ${String(c.errors).padStart(7)}  ${vs.padEnd(26)} ${cpu}`)
      }
    }
    const status = await (await fetch(`http://${HOST}:${gateway.info.httpPort}/iicp/connect/status`, { signal: AbortSignal.timeout(5_000) })).json() as { path?: string, fallbacks?: number, channel?: { pair?: { local?: { type?: string }, remote?: { type?: string } } } }
    lines.push(`direct channel: pair ${status.channel?.pair?.local?.type ?? '-'}/${status.channel?.pair?.remote?.type ?? '-'}, still ${status.path ?? '?'}, fallbacks ${status.fallbacks ?? '?'}`)
    return lines
  } finally {
    for (const c of children.reverse()) await stopChild(c)
  }
}

const floors = [await measureChannelFloor(1, 2000), await measureChannelFloor(64, 2000)]
process.stdout.write(`node-datachannel alone (two peers in this process, 1100-byte echo, no HTTP, no framing): ${floors.map(f => `c${f.concurrency} ${f.roundTripsPerSec.toFixed(0)} round trips/s, p50 ${f.p50Ms.toFixed(2)} ms, ${f.cpuUsPerRoundTrip.toFixed(0)} µs CPU each`).join('; ')}\n`)
process.stdout.write(`direct-path benchmark (loopback, each server its own process, ${jitWarmupDescription()}, ${DURATION_MS / 1000} s per row in ${ROUNDS} interleaved slices, shared CPU)\n`)
for (let i = 0; i < runs; i++) {
  const lines = await oneRun()
  process.stdout.write(`${runs > 1 ? `run ${i + 1}/${runs}\n` : ''}${lines.join('\n')}\n`)
}
