/**
 * kill -9 of one relay of three (real `iicp-relay` processes) under load from 200 callers:
 * every request gets exactly one answer, no task runs twice, the dead relay's workers re-bind
 * to the survivors within 10 s, and afterwards every worker answers through every survivor.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { createWorker, type Worker } from '../../worker/index.ts'
import { http } from '../helpers/relay-harness.ts'
import { FLEET_SECRET, eventually } from './fleet-harness.ts'
import { ExecutionLog, runCallers } from './fleet-load.ts'
import { RedisServer, redisSkipReason } from './redis-server.ts'

const BIN = new URL('../../relay/bin/iicp-relay.ts', import.meta.url).pathname
const WORKERS = 6
const CALLERS = 200

interface ChildRelay {
  name: string
  child: ChildProcess
  httpPort: number
  relayPort: number
}

async function startChildRelay (redisUrl: string, name: string): Promise<ChildRelay> {
  const child = spawn(process.execPath, [BIN, '--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--no-reflector',
    '--redis', redisUrl, '--fleet-id', 'failover', '--instance-id', name, '--fleet-listen', '127.0.0.1:0', '--fleet-lease', '1.5',
    '--bind-rate-limit', '0', '--log-level', 'error'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, IICP_RELAY_FLEET_SECRET: FLEET_SECRET } })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
  const [line] = await Promise.race([
    once(lines, 'line') as Promise<[string]>,
    once(child, 'exit').then(() => { throw new Error(`relay ${name} exited before listening`) })
  ])
  clearTimeout(timer)
  const m = /http=http:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+)/.exec(line)
  if (m === null) throw new Error(`unexpected listening line: ${line}`)
  return { name, child, httpPort: Number(m[1]), relayPort: Number(m[2]) }
}

async function killChild (r: ChildRelay, signal: NodeJS.Signals): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return
  const exited = once(r.child, 'exit')
  r.child.kill(signal)
  await exited
}

describe('fleet failover: kill -9 of one relay under load', { skip: redisSkipReason() }, () => {
  let redis: RedisServer
  const relays: ChildRelay[] = []
  const workers: Worker[] = []
  const log = new ExecutionLog()

  before(async () => {
    redis = await RedisServer.start()
    for (const name of ['f0', 'f1', 'f2']) relays.push(await startChildRelay(redis.url, name))
    for (let i = 0; i < WORKERS; i++) {
      const id = `fw${i}`
      const w = createWorker({
        relayHost: '127.0.0.1',
        relayPort: relays[0]?.relayPort ?? 0,
        relays: relays.map(r => ({ host: '127.0.0.1', port: r.relayPort })),
        workerId: id,
        handler: log.handler(id, 20),
        maxConcurrent: 256,
        reconnect: { minDelayMs: 50, maxDelayMs: 300 }
      })
      workers.push(w)
      void w.start()
    }
    await Promise.all(workers.map(async w => await w.whenBound(AbortSignal.timeout(10_000))))
  })

  after(async () => {
    await Promise.all(workers.map(async w => { await w.stop() }))
    await Promise.all(relays.map(async r => { await killChild(r, 'SIGTERM') }))
    await redis?.close()
  })

  it('every caller gets one answer, nothing runs twice, the workers re-bind within 10 s and answer everywhere', async () => {
    const byPort = (port: number | undefined): ChildRelay | undefined => relays.find(r => r.httpPort === port)
    const load = new Map<string, number>()
    for (const w of workers) {
      const name = byPort(w.binding?.relayHttpPort)?.name ?? '?'
      load.set(name, (load.get(name) ?? 0) + 1)
    }
    const victim = [...relays].sort((a, b) => (load.get(b.name) ?? 0) - (load.get(a.name) ?? 0))[0] as ChildRelay
    const survivors = relays.filter(r => r !== victim)
    let killed = false
    const stop = new AbortController()
    const callers = runCallers({
      callers: CALLERS,
      timeoutMs: 15_000,
      maxRequests: 40_000,
      signal: stop.signal,
      pick: () => {
        const pool = killed ? survivors : relays
        const r = pool[Math.floor(Math.random() * pool.length)] as ChildRelay
        return { relay: r.name, httpPort: r.httpPort, workerId: `fw${Math.floor(Math.random() * WORKERS)}` }
      }
    })
    await eventually('load is flowing', () => log.runs.size > 500)
    const killAt = performance.now()
    await killChild(victim, 'SIGKILL')
    killed = true
    await eventually('every worker is bound to a survivor', () => workers.every(w => w.state === 'bound' && survivors.some(s => s.httpPort === w.binding?.relayHttpPort)), 10_000)
    const rebindMs = performance.now() - killAt
    const recoveredAt = performance.now()
    const runsAtRecovery = log.runs.size
    // Enough load after recovery to judge it, however slow a busy machine makes the callers.
    await eventually('load after recovery', () => performance.now() - recoveredAt > 1500 && log.runs.size - runsAtRecovery > 600, 20_000)
    stop.abort()
    const records = await callers

    assert.ok(records.length > 1000, `only ${records.length} requests`)
    const unanswered = records.filter(r => r.status === -1)
    assert.equal(unanswered.length, 0, `requests without an answer: ${unanswered.slice(0, 3).map(r => r.taskId).join(', ')}`)
    const twice = [...log.runs].filter(([, n]) => n > 1)
    assert.deepEqual(twice, [], 'a task ran more than once')
    const ids = new Set(records.map(r => r.taskId))
    assert.equal(ids.size, records.length, 'a task id was answered twice')
    for (const r of records.filter(x => x.status === 200)) {
      assert.equal(r.answeredBy, r.workerId, `${r.taskId} answered by the wrong worker`)
      assert.equal(log.runs.get(r.taskId), 1, `${r.taskId} succeeded without running once`)
    }
    for (const id of log.runs.keys()) assert.ok(ids.has(id), `${id} ran but no caller asked for it`)
    // Once every worker has re-bound (plus the owner-cache lifetime), calls through survivors succeed.
    const late = records.filter(r => r.startedAt > recoveredAt + 600)
    const lateFailures = late.filter(r => r.status !== 200)
    assert.ok(late.length > 100, `only ${late.length} requests after recovery`)
    assert.equal(lateFailures.length, 0, `failures after recovery: ${JSON.stringify(lateFailures.slice(0, 3))}`)
    for (const s of survivors) {
      for (let i = 0; i < WORKERS; i++) {
        const r = await http(s.httpPort, `/v1/relay-for/fw${i}/v1/task`, { body: { task_id: `after-${s.name}-${i}` } })
        assert.equal(r.status, 200, `${s.name} → fw${i}: ${r.body.toString()}`)
      }
    }
    const failed = records.filter(r => r.status !== 200)
    console.log(`# failover: ${records.length} requests, ${failed.length} failed around the kill (${[...new Set(failed.map(f => `${f.status}:${f.code}`))].join(', ')}), re-bound in ${Math.round(rebindMs)} ms`)
    assert.ok(rebindMs < 10_000)
  })
})
