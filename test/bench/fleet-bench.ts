/**
 * `npm run bench:fleet`: the cost of the fleet's relay-to-relay hop. Two fleet relays (real
 * `iicp-relay --redis` processes) and one echo worker bound to the first: the same 1 KiB task
 * at concurrency 64 sent to the owner directly and to the other relay, which forwards it to the
 * owner over the internal link, in alternating rounds of one run. Prints req/s of both, the
 * forwarded/direct ratio and the p50 the hop adds. Everything stays on 127.0.0.1; every run is
 * bounded in time and count. Figures are only comparable within one run (shared CPU). Both paths
 * are loaded once, unmeasured, before the rounds, so the first round does not meet cold JIT code.
 * `--cpu-prof DIR`: every child writes a V8 CPU profile into DIR.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { RedisServer, redisSkipReason } from '../fleet/redis-server.ts'
import { runLoad, type LoadResult } from './load.ts'
import { median } from './median.ts'
import { taskBody } from './echo.ts'
import { YOUNG_GENERATION_FLAGS } from '../../src/cli/gc-headroom.ts'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 2000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)
/** The unmeasured load on each path before the rounds. */
const WARM_ROUND_MS = 2000
const CONCURRENCY = 64
const PAYLOAD_BYTES = 1024
const MAX_REQUESTS = 200_000
const SECRET = 'bench-fleet-secret-0123456789'
const RELAY_BIN = new URL('../../relay/bin/iicp-relay.ts', import.meta.url).pathname
const WORKER_BIN = new URL('../../worker/bin/iicp-worker.ts', import.meta.url).pathname
const { values: flags } = parseArgs({ options: { 'cpu-prof': { type: 'string' } } })
const PROFILE = flags['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof']}`]

async function startChild (args: string[], match: RegExp): Promise<{ child: ChildProcess, m: RegExpExecArray }> {
  // Both commands start with the flags of their `#!` line, as their shims run them.
  const child = spawn(process.execPath, [...PROFILE, ...YOUNG_GENERATION_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, IICP_RELAY_FLEET_SECRET: SECRET } })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
  try {
    for await (const line of lines) {
      const m = match.exec(line)
      if (m !== null) return { child, m }
    }
    throw new Error(`${args[0] ?? ''} exited before it was ready`)
  } finally {
    clearTimeout(timer)
  }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const t = setTimeout(() => { child.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(t)
}

async function startRelay (redisUrl: string, name: string): Promise<{ child: ChildProcess, httpPort: number, relayPort: number }> {
  const { child, m } = await startChild([RELAY_BIN, '--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--no-reflector', '--redis', redisUrl,
    '--fleet-id', 'bench', '--instance-id', name, '--fleet-listen', '127.0.0.1:0', '--bind-rate-limit', '0', '--log-level', 'warn'],
  /http=http:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+)/)
  return { child, httpPort: Number(m[1]), relayPort: Number(m[2]) }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere). */
function cpuSeconds (pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Runs `fn` and returns its result with the CPU µs each of `children` spent meanwhile (warm-up included) per measured request. */
async function withCpu (children: ChildProcess[], fn: () => Promise<LoadResult>): Promise<{ load: LoadResult, cpuUs: number[] }> {
  const before = children.map(c => cpuSeconds(c.pid))
  const load = await fn()
  const total = Math.max(1, load.requests)
  return { load, cpuUs: children.map((c, i) => (cpuSeconds(c.pid) - (before[i] ?? 0)) * 1e6 / total) }
}

const skip = redisSkipReason()
if (skip !== undefined) {
  process.stderr.write(`bench:fleet skipped: ${skip}\n`)
  process.exit(0)
}

const redis = await RedisServer.start()
const children: ChildProcess[] = []
try {
  const owner = await startRelay(redis.url, 'owner')
  children.push(owner.child)
  const forwarder = await startRelay(redis.url, 'forwarder')
  children.push(forwarder.child)
  const worker = await startChild([WORKER_BIN, '--relay', `127.0.0.1:${owner.relayPort}`, '--worker-id', 'bench-worker', '--echo', '--max-concurrent', '256', '--log-level', 'warn'], /bound worker=/)
  children.push(worker.child)
  const body = taskBody(PAYLOAD_BYTES)
  const path = '/v1/relay-for/bench-worker/v1/task'
  const direct: LoadResult[] = []
  const forwarded: LoadResult[] = []
  // CPU µs per request of owner, forwarder and worker: robust to a busy machine, unlike req/s.
  const directCpu: number[][] = []
  const forwardedCpu: number[][] = []
  const procs = [owner.child, forwarder.child, worker.child]
  const load = async (port: number, durationMs = DURATION_MS): Promise<LoadResult> => await runLoad({ url: new URL(`http://127.0.0.1:${port}${path}`), body, concurrency: CONCURRENCY, durationMs, warmupMs: WARMUP_MS, maxRequests: MAX_REQUESTS })
  await load(owner.httpPort, WARM_ROUND_MS)
  await load(forwarder.httpPort, WARM_ROUND_MS)
  for (let round = 0; round < ROUNDS; round++) {
    const measureDirect = async (): Promise<void> => {
      const d = await withCpu(procs, async () => await load(owner.httpPort))
      direct.push(d.load)
      directCpu.push(d.cpuUs)
    }
    const measureForwarded = async (): Promise<void> => {
      const f = await withCpu(procs, async () => await load(forwarder.httpPort))
      forwarded.push(f.load)
      forwardedCpu.push(f.cpuUs)
    }
    if (round % 2 === 0) {
      await measureDirect()
      await measureForwarded()
    } else {
      await measureForwarded()
      await measureDirect()
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`)
  }
  const roundRatios = forwarded.map((r, i) => r.reqPerSec / (direct[i]?.reqPerSec ?? Number.NaN))
  const cpu = (rows: number[][], i: number): number => median(rows.map(r => r[i] ?? Number.NaN))
  const cpuLine = (rows: number[][]): string => `owner ${cpu(rows, 0).toFixed(0)} + forwarder ${cpu(rows, 1).toFixed(0)} + worker ${cpu(rows, 2).toFixed(0)} = ${(cpu(rows, 0) + cpu(rows, 1) + cpu(rows, 2)).toFixed(0)} µs`
  const d = { reqPerSec: median(direct.map(r => r.reqPerSec)), p50Ms: median(direct.map(r => r.p50Ms)), p99Ms: median(direct.map(r => r.p99Ms)), errors: direct.reduce((n, r) => n + r.errors, 0) }
  const f = { reqPerSec: median(forwarded.map(r => r.reqPerSec)), p50Ms: median(forwarded.map(r => r.p50Ms)), p99Ms: median(forwarded.map(r => r.p99Ms)), errors: forwarded.reduce((n, r) => n + r.errors, 0) }
  const fmt = (x: number): string => x.toFixed(x < 10 ? 2 : 0)
  process.stdout.write([
    `fleet hop benchmark (node ${process.version}, c${CONCURRENCY}, ${PAYLOAD_BYTES} B payload, ${ROUNDS} rounds of ${DURATION_MS} ms per path, alternating, medians)`,
    `  direct to owner relay : ${fmt(d.reqPerSec)} req/s  p50 ${fmt(d.p50Ms)} ms  p99 ${fmt(d.p99Ms)} ms  errors ${d.errors}`,
    `  via forwarding relay  : ${fmt(f.reqPerSec)} req/s  p50 ${fmt(f.p50Ms)} ms  p99 ${fmt(f.p99Ms)} ms  errors ${f.errors}`,
    `  ratio forwarded/direct: ${median(roundRatios).toFixed(2)} (median of per-round ratios ${roundRatios.map(r => r.toFixed(2)).join(' ')}; ratio of medians ${(f.reqPerSec / d.reqPerSec).toFixed(2)})  added p50: ${fmt(f.p50Ms - d.p50Ms)} ms`,
    `  per round req/s direct ${direct.map(r => fmt(r.reqPerSec)).join(' ')} | forwarded ${forwarded.map(r => fmt(r.reqPerSec)).join(' ')}`,
    `  CPU per request, direct   : ${cpuLine(directCpu)}`,
    `  CPU per request, forwarded: ${cpuLine(forwardedCpu)}`,
    // With each relay on a machine of its own, the busiest relay bounds the req/s of each path.
    `  relays on machines of their own (from CPU per request): forwarded/direct capacity ${(cpu(directCpu, 0) / Math.max(cpu(forwardedCpu, 0), cpu(forwardedCpu, 1))).toFixed(2)}`,
    ''
  ].join('\n'))
} finally {
  for (const c of children.reverse()) await stopChild(c)
  await redis.close()
}
