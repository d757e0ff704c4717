/**
 * Child-process entry for the direct-channel benchmark (direct-bench.ts), next to bench-server.ts
 * (which runs the relay and the direct HTTP node). `worker RELAY_PORT WORKER_ID`: an echo worker bound to
 * that relay that also answers connect offers (ICE bound to 127.0.0.1), so the relayed path and
 * the direct channel reach the same worker process. `gateway RELAY_HTTP_PORT WORKER_ID`: an `iicp-connect`
 * client for that worker with its local HTTP endpoint, ready once the direct channel is open.
 * Prints one JSON line when ready, answers `'stats'` IPC messages (process-stats.ts), runs until
 * SIGTERM.
 */
import { once } from 'node:events'
import { createConnectClient } from '../../nat/connect/client.ts'
import { startConnectGateway } from '../../nat/connect/gateway.ts'
import { createWorker } from '../../worker/index.ts'
import { echoResult } from './echo.ts'
import { BENCH_PING_INTERVAL_MS } from './jit-warmup.ts'
import { serveStats } from './process-stats.ts'

const HOST = '127.0.0.1'
const [mode, portArg, workerId = 'bench-direct'] = process.argv.slice(2)
const port = Number(portArg)

async function worker (): Promise<() => Promise<void>> {
  const w = createWorker({ relayHost: HOST, relayPort: port, workerId: workerId, maxConcurrent: 256, pingIntervalMs: BENCH_PING_INTERVAL_MS, directBindAddress: HOST, handler: task => echoResult(task) })
  await w.start()
  await w.whenBound(AbortSignal.timeout(10_000))
  return async () => { await w.stop() }
}

async function gateway (): Promise<() => Promise<void>> {
  const client = createConnectClient({ relayUrl: `http://${HOST}:${port}`, workerId: workerId, bindAddress: HOST })
  // The first task starts the upgrade; the bench measures only once the channel is open.
  const upgraded = once(client, 'path', { signal: AbortSignal.timeout(15_000) })
  await client.send(Buffer.from(JSON.stringify({ task_id: 'warm', intent: 'urn:iicp:intent:bench:echo:v1', payload: {} })))
  await upgraded
  const g = await startConnectGateway(client, HOST, 0)
  process.stdout.write(`${JSON.stringify({ httpPort: g.address.port })}\n`)
  return async () => { await g.close(); await client.close() }
}

if (mode === 'worker') {
  const stop = await worker()
  process.stdout.write(`${JSON.stringify({ bound: 1 })}\n`)
  run(stop)
} else if (mode === 'gateway') {
  run(await gateway())
} else {
  throw new Error(`unknown mode ${mode ?? ''}`)
}

function run (stop: () => Promise<void>): void {
  serveStats()
  process.once('SIGTERM', () => {
    process.disconnect?.()
    // An explicit exit, so a --cpu-prof profile is written even if a handle lingers.
    void stop().finally(() => { process.exit(0) })
  })
}
