/**
 * Direct-path benchmark on loopback (`npm run bench:direct`, also run by `npm run bench`): the same
 * echo task over three paths, each behind an HTTP endpoint the load generator calls:
 *   direct HTTP   — the worker's handler served straight over HTTP (no relay, the floor)
 *   relayed       — POST /v1/relay-for/{wid}/v1/task on the relay, tunnelled to the worker over TCP
 *   direct channel — POST /v1/task on an iicp-connect gateway whose client has upgraded to the
 *                   ICE/SCTP data channel (node-datachannel) to the same worker
 * Loads: 1 KiB at c1 and c64, 1 MiB at c1. Everything runs in this one process on a shared
 * machine, so figures are for comparing paths within one run, not absolute.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { createRelay } from '../../relay/index.ts'
import { createWorker } from '../../worker/index.ts'
import { createConnectClient } from '../../nat/connect/client.ts'
import { startConnectGateway } from '../../nat/connect/gateway.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { echoResult } from './echo.ts'
import { runLoad } from './load.ts'

const HOST = '127.0.0.1'
const DURATION_MS = Number(process.env.IICP_BENCH_SECONDS ?? '4') * 1000

function taskBody (bytes: number): Buffer {
  return Buffer.from(JSON.stringify({ task_id: 'bench', intent: 'urn:bench', payload: 'x'.repeat(bytes) }))
}

// Direct HTTP: the echo handler without any relay.
const direct = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const task = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { task_id?: string, payload?: unknown }
    const body = Buffer.from(JSON.stringify({ task_id: task.task_id, status: 'completed', ...echoResult(task) }))
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body)
  })
})
const directAddr = await listenTcp(direct, { host: HOST, port: 0 })

const relay = createRelay({ host: HOST, httpPort: 0, relayPort: 0 })
const relayAddr = await relay.listen()
const worker = createWorker({ relayHost: HOST, relayPort: relayAddr.relayPort, workerId: 'bench', directBindAddress: HOST, handler: task => echoResult(task) })
await worker.start()
await worker.whenBound(AbortSignal.timeout(10_000))
const client = createConnectClient({ relayUrl: `http://${HOST}:${relayAddr.httpPort}`, workerId: 'bench', bindAddress: HOST })
const upgraded = once(client, 'path')
await client.send(taskBody(16))
await upgraded
const gateway = await startConnectGateway(client, HOST, 0)

const targets = [
  { name: 'direct HTTP', url: new URL(`http://${HOST}:${directAddr.port}/v1/task`) },
  { name: 'relayed', url: new URL(`http://${HOST}:${relayAddr.httpPort}/v1/relay-for/bench/v1/task`) },
  { name: 'direct channel', url: new URL(`http://${HOST}:${gateway.address.port}/v1/task`) }
]
const loads = [
  { name: '1 KiB c1', bytes: 1024, concurrency: 1 },
  { name: '1 KiB c64', bytes: 1024, concurrency: 64 },
  { name: '1 MiB c1', bytes: 1024 * 1024, concurrency: 1 }
]
const lines = [`direct-path benchmark (loopback, one process, ${DURATION_MS / 1000} s per cell, shared CPU)`, 'load        path            req/s     p50 ms   p99 ms   MiB/s   errors']
for (const load of loads) {
  for (const t of targets) {
    const r = await runLoad({ url: t.url, body: taskBody(load.bytes), concurrency: load.concurrency, durationMs: DURATION_MS, warmupMs: 500, maxRequests: 1_000_000 })
    const mib = (r.reqPerSec * load.bytes) / (1024 * 1024)
    lines.push(`${load.name.padEnd(11)} ${t.name.padEnd(15)} ${r.reqPerSec.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${mib.toFixed(1).padStart(7)} ${String(r.errors).padStart(8)}`)
  }
}
const status = client.status()
lines.push(`direct channel: pair ${status.channel?.pair?.local.type ?? '-'}/${status.channel?.pair?.remote.type ?? '-'}, still ${status.path}, fallbacks ${status.fallbacks}`)
process.stdout.write(`${lines.join('\n')}\n`)

await gateway.close()
await client.close()
await worker.stop()
await relay.close()
await new Promise<void>(resolve => { direct.close(() => { resolve() }); direct.closeAllConnections() })
