/**
 * `iicp-worker` as a real child process against the scripted relay: bind line on stdout, a
 * CALL answered by --echo, SIGTERM → CLOSE and exit 0, environment fallbacks, usage errors.
 */
import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { MsgType } from '../../src/protocol/frame.ts'
import { startScriptedRelay, withTimeout } from '../helpers/scripted-relay.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const ENTRY = 'worker/bin/iicp-worker.ts'
/** The child's environment without the IICP_ variables of the test runner's own shell. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IICP_')))

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

function start (t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    await exit
  })
  return { child, stdout: () => out, stderr: () => err, exit }
}

async function lineOn (run: Run, pattern: RegExp): Promise<string> {
  const stream = run.child.stdout
  assert.ok(stream !== null)
  for (;;) {
    const line = run.stdout().split('\n').find(l => pattern.test(l))
    if (line !== undefined) return line
    await withTimeout(once(stream, 'data'), 10_000, `stdout line ${String(pattern)}`)
  }
}

describe('iicp-worker CLI', () => {
  it('binds, answers a CALL with --echo, and on SIGTERM sends CLOSE and exits 0', async t => {
    const relay = await startScriptedRelay({ bind: () => ({ ok: true, httpPort: 18080 }) })
    t.after(async () => { await relay.close() })
    const run = start(t, ['--relay', `127.0.0.1:${relay.port}`, '--worker-id', 'w', '--echo', '--model', 'm1', '--model', 'm2', '--intent', 'urn:x'])
    const line = await lineOn(run, /bound/)
    assert.equal(line, `iicp-worker bound worker=w relay=127.0.0.1:${relay.port} endpoint=http://127.0.0.1:18080/v1/relay-for/w`)
    const conn = await relay.nextBound()
    assert.deepEqual(conn.bind, { workerId: 'w', intent: 'urn:x', models: ['m1', 'm2'] })
    assert.deepEqual(await conn.call({ task_id: 't-1', payload: { q: 1 } }), { result: { echo: { q: 1 } } })
    run.child.kill('SIGTERM')
    await conn.waitFrame(MsgType.Close)
    assert.equal(await withTimeout(run.exit, 10_000, 'exit after SIGTERM'), 0)
    const logs = run.stderr().trim().split('\n').map(l => JSON.parse(l) as { name?: string, msg?: string })
    assert.ok(logs.length > 0 && logs.every(l => l.name === 'iicp-worker'))
    assert.ok(logs.some(l => l.msg === 'bound to relay'))
  })

  it('takes its settings from the IICP_ environment variables', async t => {
    const relay = await startScriptedRelay()
    t.after(async () => { await relay.close() })
    const run = start(t, ['--echo'], {
      IICP_RELAY_WORKER_ENDPOINT: `127.0.0.1:${relay.port}`,
      IICP_WORKER_ID: 'w-env',
      IICP_MODELS: 'a, b',
      IICP_RELAY_BIND_TICKET: 'T',
      IICP_LOG_LEVEL: 'silent'
    })
    await lineOn(run, /bound worker=w-env/)
    const conn = await relay.nextBound()
    assert.deepEqual(conn.bind, { workerId: 'w-env', intent: '', models: ['a', 'b'], ticket: 'T' })
    run.child.kill('SIGINT')
    assert.equal(await withTimeout(run.exit, 10_000, 'exit after SIGINT'), 0)
    assert.equal(run.stderr(), '')
  })

  it('rejects bad flags with one line on stderr and exit code 2', async t => {
    for (const args of [['--bogus'], ['--relay', '127.0.0.1:1', '--worker-id', 'w'], ['--relay', '127.0.0.1:1', '--worker-id', 'w', '--echo', '--max-concurrent', 'x']]) {
      const run = start(t, args)
      assert.equal(await withTimeout(run.exit, 10_000, 'exit'), 2, args.join(' '))
      const lines = run.stderr().trim().split('\n')
      assert.equal(lines.length, 1, run.stderr())
      assert.match(lines[0] ?? '', /^iicp-worker: /)
      assert.equal(run.stdout(), '')
    }
  })

  it('prints help and exits 0', async t => {
    const run = start(t, ['--help'])
    assert.equal(await withTimeout(run.exit, 10_000, 'exit'), 0)
    assert.match(run.stdout(), /^Usage: iicp-worker --relay HOST:PORT/)
    assert.match(run.stdout(), /IICP_RELAY_WORKER_ENDPOINT/)
  })
})
