/**
 * Child-process entry for the benchmark. `direct`: an HTTP /v1/task echo node (and `/v1/raw`, which
 * sends the body back unparsed: the cost floor of a node:http service). `relay`: an
 * iicp relay (options from the JSON in BENCH_RELAY_OPTIONS). `worker RELAY_PORT`: an echo worker bound to that relay.
 * `minimal-relay` and `minimal-worker LINK_PORT`: the reference relay and its echo worker
 * (minimal-relay.ts). Prints one JSON line
 * with its ports, answers `'stats'` IPC messages with its CPU and allocation figures
 * (process-stats.ts), and runs until SIGTERM. Each role loads only its own code (the relay
 * and worker modules by dynamic import), as the real processes do: a larger heap makes every
 * major GC dearer, which at 1 MiB is a large part of a process's CPU.
 */
import { createServer } from 'node:http'
import type { RelayOptions } from '../../relay/index.ts'
import { applyGcHeadroom } from '../../src/cli/gc-headroom.ts'
import { echoResult } from './echo.ts'
import { BENCH_PING_INTERVAL_MS } from './jit-warmup.ts'
import { serveStats } from './process-stats.ts'

const [mode, relayPortArg] = process.argv.slice(2)

function ready (info: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(info)}\n`)
}

async function direct (): Promise<() => Promise<void>> {
  // The same echo handler a worker runs, served the way the direct node's /v1/task answers.
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url === '/v1/raw') {
        // The floor of any node:http service: the body back as it came, no JSON work.
        const raw = Buffer.concat(chunks)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': raw.length })
        res.end(raw)
        return
      }
      const task = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { task_id?: string, payload?: unknown }
      const body = JSON.stringify({ task_id: task.task_id ?? '', status: 'completed', ...echoResult(task) })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  ready({ httpPort: typeof addr === 'object' && addr !== null ? addr.port : 0 })
  return async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) }
}

async function relay (): Promise<() => Promise<void>> {
  // The scale bench restarts a relay on the ports it had and raises its limits (BENCH_RELAY_OPTIONS).
  const extra = JSON.parse(process.env.BENCH_RELAY_OPTIONS ?? '{}') as RelayOptions
  const { createRelay } = await import('../../relay/index.ts')
  const r = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, bindRateLimit: 0, ...extra })
  const info = await r.listen()
  ready({ httpPort: info.httpPort, relayPort: info.relayPort })
  return async () => { await r.close() }
}

async function worker (relayPort: number): Promise<() => Promise<void>> {
  const { createWorker } = await import('../../worker/index.ts')
  const w = createWorker({
    relayHost: '127.0.0.1',
    relayPort,
    workerId: 'bench-worker',
    maxConcurrent: 256,
    pingIntervalMs: BENCH_PING_INTERVAL_MS,
    handler: (task) => echoResult(task)
  })
  await w.start()
  await w.whenBound(AbortSignal.timeout(10_000))
  ready({ bound: true })
  return async () => { await w.stop() }
}

async function minimalRelay (): Promise<() => Promise<void>> {
  const { startMinimalRelay } = await import('./minimal-relay.ts')
  const r = await startMinimalRelay()
  ready({ httpPort: r.httpPort, relayPort: r.linkPort })
  return r.stop
}

async function minimalWorker (linkPort: number): Promise<() => Promise<void>> {
  const { startMinimalWorker } = await import('./minimal-relay.ts')
  const stop = await startMinimalWorker(linkPort)
  ready({ bound: true })
  return stop
}

const ROLES: Record<string, () => Promise<() => Promise<void>>> = {
  direct,
  relay,
  worker: async () => await worker(Number(relayPortArg)),
  'minimal-relay': minimalRelay,
  'minimal-worker': async () => await minimalWorker(Number(relayPortArg))
}
const role = ROLES[mode ?? '']
if (role === undefined) throw new Error(`unknown bench role ${mode ?? ''}`)
// The relay and the worker run with the GC headroom their CLIs apply (IICP_GC_HEADROOM=off: without).
if (mode === 'relay' || mode === 'worker') applyGcHeadroom()
const stop = await role()
serveStats()
process.once('SIGTERM', () => {
  process.disconnect?.()
  // An explicit exit, so a --cpu-prof profile is written even if a handle lingers.
  void stop().finally(() => { process.exit(0) })
})
