/**
 * `npm run bench` (second part): what each worker transport costs. One relay (`iicp-relay`
 * with an HTTPS front and an iicpsec:// port, certificates from a throwaway CA) and four echo
 * workers (`iicp-worker`) bound over plain TCP, TLS, WSS and long-poll, each a child process.
 * The same consumer load (HTTPS keep-alive POSTs to /v1/relay-for/{wid}/v1/task from this
 * process) runs against each worker in turn; every row is reported as req/s, p50/p99 and the
 * ratio against the plain-TCP worker in the same run. Loads: 1 KiB at c1 and c64, 1 MiB at c1.
 *
 * Flags: `--json` (one JSON document). Env: BENCH_DURATION_MS (default 3000), BENCH_WARMUP_MS
 * (default 500, per slice), BENCH_JIT_WARMUP_REQUESTS (jit-warmup.ts: each transport's warm-up before the
 * first load). Rows are measured in interleaved slices so that load drift on a shared machine
 * hits every transport alike. Everything stays on 127.0.0.1; each measurement is bounded in time and count.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'node:https'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createTestPki } from '../helpers/tls-certs.ts'
import { taskBody } from './echo.ts'
import { JIT_WARMUP_CHURN_REQUESTS, JIT_WARMUP_CONCURRENCY, JIT_WARMUP_LARGE_MS, JIT_WARMUP_LARGE_REQUESTS, JIT_WARMUP_MS, JIT_WARMUP_REQUESTS, jitWarmupDescription } from './jit-warmup.ts'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500)
const MAX_REQUESTS = 200_000
/** Each row is measured in this many slices, interleaved with the other transports, so load drift hits all rows alike. */
const ROUNDS = 3
const LOADS = [
  { size: '1 KiB', bytes: 1024, concurrency: 1 },
  { size: '1 KiB', bytes: 1024, concurrency: 64 },
  { size: '1 MiB', bytes: 1024 * 1024, concurrency: 1 }
] as const
const TRANSPORTS = ['tcp', 'tls', 'wss', 'long-poll'] as const
type Transport = typeof TRANSPORTS[number]

const RELAY = fileURLToPath(new URL('../../relay/bin/iicp-relay.ts', import.meta.url))
const WORKER = fileURLToPath(new URL('../../worker/bin/iicp-worker.ts', import.meta.url))
const { values: flags } = parseArgs({ options: { json: { type: 'boolean', default: false } } })

/** Starts a CLI and resolves with it and its first stdout line. */
async function startCli (entry: string, args: string[]): Promise<{ child: ChildProcess, line: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IICP_') && !/_proxy$/i.test(k)) env[k] = v
  const child = spawn(process.execPath, [entry, ...args, '--log-level', 'error'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${entry} printed nothing within 20 s`)) }, 20_000)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl)) }
    })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`${entry} exited (${code})`)) })
  })
  return { child, line }
}

async function stopCli (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

interface Row { size: string, concurrency: number, transport: Transport, rps: number, p50Ms: number, p99Ms: number, errors: number, ratio: number, firstError?: string }

function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

/** One slice's raw figures. */
interface Slice { latencies: number[], errors: number, firstError: string | undefined }

/** `concurrency` loops of keep-alive HTTPS POSTs: a warm-up, then `windowMs` (or `maxRequests`) measured. */
async function runLoad (port: number, agent: Agent, workerId: string, body: Buffer, concurrency: number, windowMs: number, maxRequests = MAX_REQUESTS): Promise<Slice> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  let total = 0
  const start = performance.now()
  const measureFrom = start + WARMUP_MS
  const end = measureFrom + windowMs
  /** One request: undefined when it answered 200, else why not. */
  const one = async (): Promise<string | undefined> => await new Promise(resolve => {
    const fail = (why: string): void => { resolve(why) }
    const req = request({ host: '127.0.0.1', port, path: `/v1/relay-for/${workerId}/v1/task`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, res => {
      let head = ''
      res.on('data', (c: Buffer) => { if (head.length < 200) head += c.toString('utf8', 0, 200) })
      res.on('end', () => { if (res.statusCode === 200) resolve(undefined); else fail(`HTTP ${res.statusCode}: ${head.slice(0, 200)}`) })
      res.on('error', (err) => { fail(err.message) })
    })
    req.on('error', (err) => { fail(err.message) })
    req.end(body)
  })
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end && total < maxRequests) {
      const t0 = performance.now()
      const failure = await one()
      const t1 = performance.now()
      // Only the measured window counts (a warm-up failure, e.g. a keep-alive socket closed between slices, does not).
      if (t0 >= measureFrom && t1 <= end) {
        total++
        if (failure === undefined) latencies.push(t1 - t0)
        else {
          errors++
          firstError ??= failure
        }
      }
    }
  }))
  return { latencies, errors, firstError }
}

function firstErrorOf (slices: Slice[]): { firstError?: string } {
  const e = slices.find(x => x.firstError !== undefined)?.firstError
  return e === undefined ? {} : { firstError: e }
}

async function main (): Promise<void> {
  const pki = createTestPki()
  const relay = await startCli(RELAY, ['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--tls-cert', pki.leaf.certFile, '--tls-key', pki.leaf.keyFile, '--tls-relay-port', '0', '--bind-rate-limit', '0'])
  const workers: ChildProcess[] = []
  try {
    const m = /http=https:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+) tls-relay=iicpsec:\/\/127\.0\.0\.1:(\d+)/.exec(relay.line)
    if (m === null) throw new Error(`unexpected listening line: ${relay.line}`)
    const [httpPort, relayPort, tlsPort] = [Number(m[1]), Number(m[2]), Number(m[3])]
    const addresses: Record<Transport, string> = {
      tcp: `127.0.0.1:${relayPort}`,
      tls: `iicpsec://127.0.0.1:${tlsPort}`,
      wss: `wss://127.0.0.1:${httpPort}/v1/relay/ws`,
      'long-poll': `https://127.0.0.1:${httpPort}`
    }
    for (const t of TRANSPORTS) {
      workers.push((await startCli(WORKER, ['--relay', addresses[t], '--ca', pki.caFile, '--worker-id', `bench-${t}`, '--echo', '--max-concurrent', '128'])).child)
    }
    if (JIT_WARMUP_REQUESTS > 0) {
      // The JIT warm-up of jit-warmup.ts, per transport, before the first load (not counted).
      for (const t of TRANSPORTS) {
        // The first part on connections of its own, closed before the rest (see jit-warmup.ts).
        const churn = new Agent({ keepAlive: true, maxSockets: JIT_WARMUP_CONCURRENCY.churn, ca: pki.caPem })
        await runLoad(httpPort, churn, `bench-${t}`, taskBody(1024), JIT_WARMUP_CONCURRENCY.churn, JIT_WARMUP_MS, JIT_WARMUP_CHURN_REQUESTS)
        churn.destroy()
        const agent = new Agent({ keepAlive: true, maxSockets: JIT_WARMUP_CONCURRENCY.small, ca: pki.caPem })
        await runLoad(httpPort, agent, `bench-${t}`, taskBody(1024 * 1024), JIT_WARMUP_CONCURRENCY.large, JIT_WARMUP_LARGE_MS, JIT_WARMUP_LARGE_REQUESTS)
        await runLoad(httpPort, agent, `bench-${t}`, taskBody(1024), JIT_WARMUP_CONCURRENCY.small, JIT_WARMUP_MS, JIT_WARMUP_REQUESTS)
        agent.destroy()
      }
    }
    const rows: Row[] = []
    for (const load of LOADS) {
      const body = taskBody(load.bytes)
      const slices = new Map<Transport, Slice[]>(TRANSPORTS.map(t => [t, []]))
      // One keep-alive pool per transport for the whole load: consumer handshakes happen once, in the first warm-up.
      const agents = new Map(TRANSPORTS.map(t => [t, new Agent({ keepAlive: true, maxSockets: load.concurrency, ca: pki.caPem })]))
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of TRANSPORTS) slices.get(t)?.push(await runLoad(httpPort, agents.get(t) as Agent, `bench-${t}`, body, load.concurrency, DURATION_MS / ROUNDS))
      }
      for (const a of agents.values()) a.destroy()
      let tcpRps = 0
      for (const t of TRANSPORTS) {
        const all = slices.get(t) ?? []
        const latencies = all.flatMap(x => x.latencies).sort((a, b) => a - b)
        const rps = latencies.length / (DURATION_MS / 1000)
        if (t === 'tcp') tcpRps = rps
        rows.push({
          size: load.size, concurrency: load.concurrency, transport: t, rps, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99),
          errors: all.reduce((n, x) => n + x.errors, 0), ratio: tcpRps === 0 ? 0 : rps / tcpRps,
          ...firstErrorOf(all)
        })
      }
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ durationMs: DURATION_MS, jitWarmupRequests: JIT_WARMUP_REQUESTS, rows }, null, 2)}\n`)
      return
    }
    process.stdout.write(`\nWorker transports (HTTPS consumer leg for all; ratio = req/s against the plain-TCP worker in this run; ${jitWarmupDescription()}; ${DURATION_MS} ms per row in ${ROUNDS} interleaved slices)\n`)
    process.stdout.write('load            transport   req/s     p50 ms   p99 ms   errors  vs TCP\n')
    for (const r of rows) {
      process.stdout.write(`${`${r.size} c${r.concurrency}`.padEnd(16)}${r.transport.padEnd(12)}${r.rps.toFixed(0).padStart(7)}${r.p50Ms.toFixed(2).padStart(10)}${r.p99Ms.toFixed(2).padStart(9)}${String(r.errors).padStart(9)}${r.ratio.toFixed(2).padStart(8)}\n`)
    }
    for (const r of rows) if (r.firstError !== undefined) process.stdout.write(`first error, ${r.size} c${r.concurrency} ${r.transport}: ${r.firstError}\n`)
  } finally {
    for (const w of workers) await stopCli(w)
    await stopCli(relay.child)
    pki.cleanup()
  }
}

await main()
