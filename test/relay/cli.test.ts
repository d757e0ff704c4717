/**
 * The `iicp-relay` CLI as a real child process: the listening line, JSON logs on stderr,
 * flags and IICP_ environment fallbacks, a relayed task, SIGTERM/SIGINT → CLOSE to every
 * session and exit 0 within 5 s, and one-line usage errors with exit code 2.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { http } from '../helpers/relay-harness.ts'
import { RelayPeer } from '../helpers/relay-peer.ts'
import { TICKET_PUBLIC_KEY } from '../helpers/relay-tickets.ts'

const ENTRY = fileURLToPath(new URL('../../relay/bin/iicp-relay.ts', import.meta.url))
const CLOSE_HEX = '494943500107000000000000'

/** A clean environment: no IICP_ settings leak in from the caller. */
function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IICP_')) env[k] = v
  return { ...env, ...extra }
}

interface Running {
  child: ChildProcess
  httpPort: number
  relayPort: number
  stderr: () => string
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

async function spawnRelay (args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, [ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no listening line; stderr: ${err}`)) }, 10_000)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve(out.slice(0, nl))
      }
    })
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`exited early; stderr: ${err}`)) })
  })
  const m = /^iicp-relay listening http=http:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+)$/.exec(line)
  assert.ok(m, line)
  return { child, httpPort: Number(m[1]), relayPort: Number(m[2]), stderr: () => err, exited }
}

async function exitWithin (r: Running, ms: number): Promise<[number | null, NodeJS.Signals | null]> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      r.exited,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`did not exit within ${ms} ms`)) }, ms) })
    ])
  } finally {
    clearTimeout(timer)
    if (r.child.exitCode === null) r.child.kill('SIGKILL')
  }
}

describe('iicp-relay CLI', () => {
  it('listens, relays a task, and on SIGTERM sends CLOSE to every session and exits 0 within 5 s', async () => {
    const r = await spawnRelay(['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--node-id', 'relay-cli', '--forward-timeout', '5'], cleanEnv())
    const peer = await RelayPeer.connect(r.relayPort)
    try {
      const ack = await peer.bind('w-cli', { models: ['m1'] })
      assert.deepEqual(ack, { ok: true, workerId: 'w-cli', httpPort: r.httpPort })
      peer.serve(task => ({ result: { echo: task } }))
      const ans = await http(r.httpPort, '/v1/relay-for/w-cli/v1/task', { body: { task_id: 't-1', payload: 'hi' } })
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't-1', status: 'completed', result: { echo: { task_id: 't-1', payload: 'hi' } } })
      const health = (await http(r.httpPort, '/iicp/health')).json<{ relay: { node_id: string, sessions: number } }>()
      assert.equal(health.relay.node_id, 'relay-cli')
      assert.equal(health.relay.sessions, 1)
      const started = performance.now()
      r.child.kill('SIGTERM')
      await peer.expectClosed(5000)
      assert.ok(peer.received.toString('hex').endsWith(CLOSE_HEX), 'the worker received CLOSE')
      const [code, signal] = await exitWithin(r, 5000)
      assert.equal(signal, null)
      assert.equal(code, 0)
      assert.ok(performance.now() - started < 5000)
      // Logs are JSON lines on stderr.
      const lines = r.stderr().trim().split('\n')
      for (const l of lines) assert.equal(typeof (JSON.parse(l) as { level: number }).level, 'number')
      assert.ok(lines.some(l => l.includes('relay listening')))
    } finally {
      peer.destroy()
      if (r.child.exitCode === null) r.child.kill('SIGKILL')
    }
  })

  it('reads its settings from IICP_ environment variables, and SIGINT also exits 0', async () => {
    const r = await spawnRelay([], cleanEnv({
      IICP_RELAY_HOST: '127.0.0.1',
      IICP_RELAY_HTTP_PORT: '0',
      IICP_RELAY_ACCEPT_PORT: '0',
      IICP_RELAY_REQUIRE_BIND_TICKET: '1',
      IICP_RELAY_BIND_TICKET_PUBLIC_KEY: TICKET_PUBLIC_KEY,
      IICP_RELAY_MAX_SESSIONS: '7',
      IICP_LOG_LEVEL: 'silent'
    }))
    const peer = await RelayPeer.connect(r.relayPort)
    try {
      assert.deepEqual(await peer.bind('w1'), { ok: false, workerId: 'w1', reason: 'relay bind ticket required' })
      const health = (await http(r.httpPort, '/iicp/health')).json<{ relay: { max_sessions: number } }>()
      assert.equal(health.relay.max_sessions, 7)
      r.child.kill('SIGINT')
      assert.deepEqual(await exitWithin(r, 5000), [0, null])
      assert.equal(r.stderr(), '')
    } finally {
      peer.destroy()
      if (r.child.exitCode === null) r.child.kill('SIGKILL')
    }
  })

  for (const args of [['--nope'], ['--http-port', 'abc'], ['--ticket-public-key', 'xyz'], ['--log-level', 'loud'], ['stray']]) {
    it(`a bad flag (${args.join(' ')}) prints one line on stderr and exits 2`, async () => {
      const child = spawn(process.execPath, [ENTRY, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
      child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
      const [code] = await exitWithin({ child, httpPort: 0, relayPort: 0, stderr: () => err, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> }, 10_000)
      assert.equal(code, 2)
      assert.equal(out, '')
      assert.match(err, /^iicp-relay: [^\n]+\n$/)
    })
  }
})
