/**
 * Running a relay as an operator (issue 12, findings 1, 7, 8): /metrics only on the metrics
 * listener (with process metrics), listen failures as one line, and the runbook's strict-mode
 * smoke test with the real CLIs: keygen, a strict relay, a ticket, iicp-worker --echo, a task.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { relayMain } from '../../relay/cli.ts'
import { http } from '../helpers/relay-harness.ts'
import { listenTcp } from '../../src/transport/listen.ts'

const execFileP = promisify(execFile)
const bin = (name: string): string => fileURLToPath(new URL(`../../${name === 'iicp-worker' ? 'worker' : name === 'iicp-relay' ? 'relay' : 'nat'}/bin/${name}.launch.js`, import.meta.url))

/** Starts relayMain in-process; resolves with its listening line once it is up. */
async function startRelay (argv: string[]): Promise<{ line: string, stop: () => Promise<void> }> {
  const ac = new AbortController()
  const out = new PassThrough()
  const lineSeen = once(out, 'data') as Promise<[Buffer]>
  const done = relayMain(['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--log-level', 'silent', ...argv], {}, { out, stop: ac.signal })
  const [chunk] = await Promise.race([lineSeen, done.then(() => { throw new Error('relay exited') })])
  return { line: chunk.toString('utf8'), stop: async () => { ac.abort(); await done } }
}

/** Environment without IICP_ settings from the caller. */
function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IICP_')))
}

/** Spawns a CLI and resolves with the child and its first stdout line. */
async function spawnCli (name: string, args: string[]): Promise<{ child: ChildProcess, line: string, stderr: () => string }> {
  const child = spawn(process.execPath, [bin(name), ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve(out.slice(0, nl))
    })
    child.once('exit', code => { reject(new Error(`${name} exited with ${code}: ${err}`)) })
  })
  return { child, line, stderr: () => err }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

describe('metrics listener', () => {
  it('serves /metrics (with process metrics) only on --metrics-port; the HTTP front answers 404', async t => {
    const relay = await startRelay(['--metrics-port', '0'])
    t.after(relay.stop)
    const m = /http=http:\/\/127\.0\.0\.1:(\d+) .*metrics=http:\/\/127\.0\.0\.1:(\d+)\/metrics$/.exec(relay.line.trim())
    assert.ok(m, relay.line)
    const front = await http(Number(m[1]), '/metrics')
    assert.equal(front.status, 404)
    const metrics = await http(Number(m[2]), '/metrics')
    assert.equal(metrics.status, 200)
    const text = metrics.body.toString('utf8')
    for (const name of ['iicp_relay_sessions', 'process_open_fds', 'nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes']) {
      assert.match(text, new RegExp(`^${name} `, 'm'), name)
    }
    assert.equal((await http(Number(m[2]), '/iicp/health')).status, 404)
  })

  it('keeps /metrics on the HTTP front when no metrics listener is configured', async t => {
    const relay = await startRelay([])
    t.after(relay.stop)
    const port = Number(/http=http:\/\/127\.0\.0\.1:(\d+)/.exec(relay.line)?.[1])
    assert.equal((await http(port, '/metrics')).status, 200)
  })

  it('reports a port in use as one line, without a stack', async t => {
    const blocker = createServer()
    const { port } = await listenTcp(blocker, { host: '127.0.0.1', port: 0 })
    t.after(() => { blocker.close() })
    await assert.rejects(relayMain(['--host', '127.0.0.1', '--http-port', String(port), '--relay-port', '0', '--log-level', 'silent'], {}, { out: new PassThrough() }),
      (err: Error) => err.message === `cannot listen on 127.0.0.1:${port}: the address is already in use (another relay or program has the port) (EADDRINUSE)`)
  })
})

describe('runbook smoke test (deploy/runbook.md §3)', () => {
  it('keygen, a strict relay, a ticket and iicp-worker --echo answer a task', async t => {
    const { stdout: keys } = await execFileP(process.execPath, [bin('iicp-relay'), 'keygen'], { env: cleanEnv() })
    const publicKey = /^PUBLIC_KEY=(\w+)$/m.exec(keys)?.[1] ?? ''
    const privateKey = /^PRIVATE_KEY=(\w+)$/m.exec(keys)?.[1] ?? ''
    const relay = await spawnCli('iicp-relay', ['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--node-id', 'relay-1',
      '--require-ticket', '--ticket-public-key', publicKey])
    t.after(async () => { await stopChild(relay.child) })
    const m = /http=http:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+)/.exec(relay.line)
    assert.ok(m, relay.line)
    const [httpPort, relayPort] = [Number(m[1]), Number(m[2])]
    const { stdout: ticket } = await execFileP(process.execPath, [bin('iicp-relay'), 'ticket', '--key', privateKey, '--worker-id', 'smoke', '--aud', 'relay-1'], { env: cleanEnv() })
    const worker = await spawnCli('iicp-worker', ['--relay', `127.0.0.1:${relayPort}`, '--worker-id', 'smoke', '--echo', '--ticket', ticket.trim()])
    t.after(async () => { await stopChild(worker.child) })
    assert.match(worker.line, /^iicp-worker bound worker=smoke /)
    const answer = await http(httpPort, '/v1/relay-for/smoke/v1/task', { body: { task_id: 't1', intent: 'urn:x', payload: { q: 1 } } })
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.json(), { task_id: 't1', status: 'completed', result: { echo: { q: 1 } } })
    // The relay logged the bind at info with the worker id and source address.
    assert.match(relay.stderr(), /"workerId":"smoke","remote":"127\.0\.0\.1".*"msg":"worker bound"/)
  })
})
