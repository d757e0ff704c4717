/**
 * `npm run bench:scale`: a relay (child process) with 10,000 bound idle workers, bound by
 * lightweight raw-socket workers (binder.ts) in two child processes from eight loopback source
 * addresses. Prints the relay's RSS per session, binds per second into an empty relay, and how
 * long the workers take to be bound again after a 20 s outage (relay killed with SIGKILL and
 * restarted on the same ports; the workers re-dial with the worker's own back-off).
 *
 * Flags: `--json`, `--runs N` (median and range). Env: SCALE_WORKERS (10000), SCALE_OUTAGE_MS
 * (20000). Everything stays on 127.0.0.0/8; every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startChild, stopChild, type BenchChild } from './children.ts'

const WORKERS = Number(process.env.SCALE_WORKERS ?? 10_000)
const OUTAGE_MS = Number(process.env.SCALE_OUTAGE_MS ?? 20_000)
const BINDER_PROCESSES = 2
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`)
/** How long the bench waits for the initial binds and for the re-binds. */
const BIND_DEADLINE_MS = 60_000
const REBIND_DEADLINE_MS = 90_000
const POLL_MS = 250

const { values: flags } = parseArgs({ options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '1' } } })
const runs = Math.max(1, Math.min(5, Number(flags.runs) || 1))

interface ScaleResult {
  workers: number
  sessionsReported: number
  rssBeforeMiB: number
  rssAfterMiB: number
  rssPerSessionKiB: number
  bindMs: number
  bindsPerSecond: number
  /** Relay CPU per bind during the burst, µs (what the relay could do per core: 1e6 / this). */
  relayCpuPerBindUs: number
  outageMs: number
  /** From the restart to the last worker bound again (undefined: not all came back). */
  rebindAllMs: number | undefined
  rebindP50Ms: number
  rebindP99Ms: number
  reboundWorkers: number
}

/** CPU time of process `pid` in µs (utime + stime from /proc, clock ticks of 10 ms). */
function cpuUs (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

function rssKiB (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(l => l.startsWith('VmRSS:'))
  return Number(line?.replace(/\D+/g, '') ?? Number.NaN)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function relaySessions (httpPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/iicp/health`, { signal: AbortSignal.timeout(5000) })
  return ((await res.json()) as { relay?: { sessions?: number } }).relay?.sessions ?? Number.NaN
}

async function startRelay (ports?: { httpPort: number, relayPort: number }): Promise<BenchChild> {
  const options = { maxSessions: WORKERS + 1000, maxPendingConnectionsPerIp: 1024, ...ports }
  process.env.BENCH_RELAY_OPTIONS = JSON.stringify(options)
  try {
    return await startChild(['relay'], process.env.SCALE_CPU_PROF)
  } finally {
    delete process.env.BENCH_RELAY_OPTIONS
  }
}

interface Binder { child: ChildProcess, next: (kind: string) => Promise<Record<string, unknown>> }

async function startBinder (relayPort: number, count: number, prefix: string): Promise<Binder> {
  const child = spawn(process.execPath, [new URL('./binder.ts', import.meta.url).pathname, String(relayPort), String(count), prefix, SOURCES.join(',')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const inbox: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  child.on('message', (m) => { inbox.push(m as Record<string, unknown>); waiters.shift()?.() })
  const next = async (kind: string): Promise<Record<string, unknown>> => {
    const deadline = performance.now() + REBIND_DEADLINE_MS
    for (;;) {
      const i = inbox.findIndex(m => m.kind === kind)
      if (i >= 0) return inbox.splice(i, 1)[0] as Record<string, unknown>
      if (performance.now() > deadline || child.exitCode !== null) throw new Error(`binder: no '${kind}' message`)
      await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 1000) })
    }
  }
  await next('ready')
  return { child, next }
}

async function stopBinder (b: Binder): Promise<void> {
  if (b.child.exitCode !== null) return
  const exited = once(b.child, 'exit')
  b.child.send('stop')
  const t = setTimeout(() => { b.child.kill('SIGKILL') }, 5000)
  await exited
  clearTimeout(t)
}

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN
}

async function counts (binders: Binder[]): Promise<{ bound: number, boundAt: number[] }> {
  const answers = await Promise.all(binders.map(async b => {
    b.child.send('count')
    return await b.next('count') as { bound: number, boundAt: number[] }
  }))
  return { bound: answers.reduce((n, a) => n + a.bound, 0), boundAt: answers.flatMap(a => a.boundAt) }
}

async function oneRun (): Promise<ScaleResult> {
  let relay = await startRelay()
  const ports = { httpPort: relay.info.httpPort as number, relayPort: relay.info.relayPort as number }
  const binders: Binder[] = []
  try {
    await sleep(1000)
    const rssBefore = rssKiB(relay.child.pid as number)
    const per = Math.ceil(WORKERS / BINDER_PROCESSES)
    for (let i = 0; i < BINDER_PROCESSES; i++) binders.push(await startBinder(ports.relayPort, Math.min(per, WORKERS - i * per), `scale${i}`))
    const started = performance.now()
    const cpuBefore = cpuUs(relay.child.pid as number)
    for (const b of binders) b.child.send('go')
    await Promise.race([Promise.all(binders.map(async b => await b.next('bound'))), sleep(BIND_DEADLINE_MS).then(() => { throw new Error('initial binds did not finish') })])
    const bindMs = performance.now() - started
    const relayCpuPerBindUs = (cpuUs(relay.child.pid as number) - cpuBefore) / WORKERS
    await counts(binders)
    await sleep(3000)
    const rssAfter = rssKiB(relay.child.pid as number)
    const sessionsReported = await relaySessions(ports.httpPort)

    relay.child.kill('SIGKILL')
    await once(relay.child, 'exit')
    await sleep(OUTAGE_MS)
    await counts(binders) // forget the bind times before the outage
    relay = await startRelay(ports)
    const restartedAt = Date.now()
    const reboundAt: number[] = []
    let bound = 0
    const deadline = performance.now() + REBIND_DEADLINE_MS
    while (performance.now() < deadline) {
      const c = await counts(binders)
      reboundAt.push(...c.boundAt)
      bound = c.bound
      if (bound >= WORKERS) break
      await sleep(POLL_MS)
    }
    const rebind = reboundAt.map(t => t - restartedAt)
    return {
      workers: WORKERS,
      sessionsReported,
      rssBeforeMiB: rssBefore / 1024,
      rssAfterMiB: rssAfter / 1024,
      rssPerSessionKiB: (rssAfter - rssBefore) / WORKERS,
      bindMs,
      bindsPerSecond: WORKERS / (bindMs / 1000),
      relayCpuPerBindUs,
      outageMs: OUTAGE_MS,
      rebindAllMs: bound >= WORKERS ? Math.max(...rebind) : undefined,
      rebindP50Ms: percentile(rebind, 0.5),
      rebindP99Ms: percentile(rebind, 0.99),
      reboundWorkers: bound
    }
  } finally {
    await Promise.all(binders.map(stopBinder))
    await stopChild(relay)
  }
}

const results: ScaleResult[] = []
for (let i = 0; i < runs; i++) {
  process.stderr.write(`scale run ${i + 1}/${runs}\n`)
  results.push(await oneRun())
}
if (flags.json) {
  process.stdout.write(`${JSON.stringify({ node: process.version, runs: results }, null, 2)}\n`)
} else {
  const cell = (pick: (r: ScaleResult) => number | undefined, d: number): string => {
    const xs = results.map(pick).map(x => x ?? Number.NaN)
    const f = (n: number): string => Number.isFinite(n) ? n.toFixed(d) : 'n/a'
    if (xs.length === 1) return f(xs[0] as number)
    const s = [...xs].sort((a, b) => a - b)
    return `${f(s[Math.floor(s.length / 2)] as number)} (${f(s[0] as number)}–${f(s[s.length - 1] as number)})`
  }
  const out = [
    `node ${process.version}, ${WORKERS} workers from ${BINDER_PROCESSES} processes, ${runs} run(s)${runs > 1 ? ': median (min–max)' : ''}`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| sessions the relay reports | ${cell(r => r.sessionsReported, 0)} | ${WORKERS} |`,
    `| relay RSS before / after, MiB | ${cell(r => r.rssBeforeMiB, 1)} / ${cell(r => r.rssAfterMiB, 1)} | |`,
    `| relay RSS per bound idle session, KiB | ${cell(r => r.rssPerSessionKiB, 2)} | <= 9.8 (10 KB) |`,
    `| binds per second into an empty relay | ${cell(r => r.bindsPerSecond, 0)} | >= 3000 |`,
    `| relay CPU per bind, µs (binds/s one core sustains: 1e6 / this) | ${cell(r => r.relayCpuPerBindUs, 0)} | |`,
    `| re-bind after a ${OUTAGE_MS / 1000} s outage: all back, s after restart | ${cell(r => r.rebindAllMs === undefined ? undefined : r.rebindAllMs / 1000, 1)} | <= 30 |`,
    `| re-bind p50 / p99, s after restart | ${cell(r => r.rebindP50Ms / 1000, 1)} / ${cell(r => r.rebindP99Ms / 1000, 1)} | |`,
    `| workers bound again | ${cell(r => r.reboundWorkers, 0)} | ${WORKERS} |`
  ]
  process.stdout.write(`${out.join('\n')}\n`)
}
