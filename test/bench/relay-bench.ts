/**
 * `npm run bench`: the same echo handler served directly over HTTP and through relay + worker,
 * in one run. 1 KiB and 1 MiB payloads at concurrency 1 and 64; req/s, p50 and p99, and the
 * relayed/direct ratios. Servers run in child processes, the load generator in this one.
 * Everything stays on 127.0.0.1 and every run is bounded in time and count.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { runLoad, type LoadResult } from './load.ts'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700)
const MAX_REQUESTS = 200_000

async function startChild (args: string[]): Promise<{ child: ChildProcess, info: Record<string, number> }> {
  const child = spawn(process.execPath, [new URL('./bench-server.ts', import.meta.url).pathname, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
  const [line] = await Promise.race([
    once(lines, 'line') as Promise<[string]>,
    once(child, 'exit').then(() => { throw new Error(`bench child ${args.join(' ')} exited early`) })
  ])
  clearTimeout(timer)
  return { child, info: JSON.parse(line) as Record<string, number> }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const t = setTimeout(() => { child.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(t)
}

function taskBody (payloadBytes: number): Buffer {
  return Buffer.from(JSON.stringify({ task_id: 'bench-1', intent: 'urn:iicp:intent:bench:echo:v1', payload: { data: 'x'.repeat(payloadBytes) } }))
}

interface Row { size: string, concurrency: number, direct: LoadResult, relayed: LoadResult }

const fmt = (n: number, d = 0): string => Number.isFinite(n) ? n.toFixed(d) : 'n/a'

async function main (): Promise<void> {
  const direct = await startChild(['direct'])
  const relay = await startChild(['relay'])
  const worker = await startChild(['worker', String(relay.info.relayPort)])
  const directUrl = new URL(`http://127.0.0.1:${direct.info.httpPort}/v1/task`)
  const relayedUrl = new URL(`http://127.0.0.1:${relay.info.httpPort}/v1/relay-for/bench-worker/v1/task`)
  const rows: Row[] = []
  try {
    for (const [size, bytes] of [['1 KiB', 1024], ['1 MiB', 1024 * 1024]] as const) {
      for (const concurrency of [1, 64]) {
        const body = taskBody(bytes)
        const opts = { body, concurrency, durationMs: DURATION_MS, warmupMs: WARMUP_MS, maxRequests: MAX_REQUESTS }
        const d = await runLoad({ ...opts, url: directUrl })
        const r = await runLoad({ ...opts, url: relayedUrl })
        rows.push({ size, concurrency, direct: d, relayed: r })
        process.stderr.write(`measured ${size} c=${concurrency}\n`)
      }
    }
  } finally {
    await Promise.all([stopChild(worker.child), stopChild(direct.child)])
    await stopChild(relay.child)
  }
  const out: string[] = []
  out.push(`node ${process.version}, ${DURATION_MS} ms per run after ${WARMUP_MS} ms warm-up, loopback`)
  out.push('| payload | conc | direct req/s | relayed req/s | ratio | direct p50 ms | relayed p50 ms | added p50 ms | direct p99 ms | relayed p99 ms | errors d/r |')
  out.push('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const { size, concurrency, direct: d, relayed: r } of rows) {
    out.push(`| ${size} | ${concurrency} | ${fmt(d.reqPerSec)} | ${fmt(r.reqPerSec)} | ${fmt(r.reqPerSec / d.reqPerSec, 2)} | ${fmt(d.p50Ms, 3)} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p50Ms - d.p50Ms, 3)} | ${fmt(d.p99Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${d.errors}/${r.errors} |`)
  }
  const find = (s: string, c: number): Row | undefined => rows.find(x => x.size === s && x.concurrency === c)
  const k64 = find('1 KiB', 64)
  const k1 = find('1 KiB', 1)
  const m64 = find('1 MiB', 64)
  const m1 = find('1 MiB', 1)
  out.push('')
  out.push('Targets:')
  if (k64 !== undefined) out.push(`- relayed/direct req/s, 1 KiB, c=64: ${fmt(k64.relayed.reqPerSec / k64.direct.reqPerSec, 2)} (target >= 0.5)`)
  if (k1 !== undefined) out.push(`- added p50 latency, 1 KiB, c=1: ${fmt(k1.relayed.p50Ms - k1.direct.p50Ms, 3)} ms (target <= 0.5 ms)`)
  if (m1 !== undefined && m64 !== undefined) {
    out.push(`- relayed/direct req/s, 1 MiB: c=1 ${fmt(m1.relayed.reqPerSec / m1.direct.reqPerSec, 2)}, c=64 ${fmt(m64.relayed.reqPerSec / m64.direct.reqPerSec, 2)} (target >= 0.5)`)
  }
  process.stdout.write(`${out.join('\n')}\n`)
}

await main()
