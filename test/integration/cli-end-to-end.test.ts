/**
 * The real CLIs as child processes: `iicp-relay` (also serving STUN on 127.0.0.2/127.0.0.3),
 * an `iicp-worker --echo` bound to it, a task over HTTP through the relay, `iicp-nat probe`
 * given only the relay's URL (it reads the relay's STUN server from GET /v1/nat/info) and dialed
 * back by its reflector (`--reflector-allow-private`: loopback proves local reachability only),
 * then SIGTERM and a clean exit for both. Everything stays on loopback.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ProbeReport } from '../../nat/index.ts'

/** `iicp-relay` → relay/bin/iicp-relay.ts: each component's entry point lives in its bin/. */
const cli = (name: string): string => fileURLToPath(new URL(`../../${name.replace(/^iicp-/, '')}/bin/${name}.ts`, import.meta.url))

interface Child { proc: ChildProcessWithoutNullStreams, stderr: () => string, nextLine: (re: RegExp) => Promise<RegExpExecArray> }

function start (name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [cli(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH } })
  let err = ''
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const lines = createInterface({ input: proc.stdout })
  return {
    proc,
    stderr: () => err,
    nextLine: async (re) => await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { done(); reject(new Error(`${name}: no line matching ${String(re)}; stderr: ${err}`)) }, 15_000)
      const onLine = (line: string): void => {
        const m = re.exec(line)
        if (m !== null) { done(); resolve(m) }
      }
      const onExit = (): void => { done(); reject(new Error(`${name} exited early; stderr: ${err}`)) }
      const done = (): void => { clearTimeout(timer); lines.off('line', onLine); proc.off('exit', onExit) }
      lines.on('line', onLine)
      proc.on('exit', onExit)
    })
  }
}

async function stop (child: Child): Promise<{ code: number | null, ms: number }> {
  if (child.proc.exitCode !== null) return { code: child.proc.exitCode, ms: 0 }
  const t0 = performance.now()
  const exited = once(child.proc, 'exit') as Promise<[number | null]>
  child.proc.kill('SIGTERM')
  const kill = setTimeout(() => { child.proc.kill('SIGKILL') }, 10_000)
  const [code] = await exited
  clearTimeout(kill)
  return { code, ms: performance.now() - t0 }
}

describe('CLIs end to end', () => {
  it('relay + worker + a task over HTTP + a NAT probe with only the relay URL, then SIGTERM exits 0', async () => {
    const relay = start('iicp-relay', ['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--log-level', 'warn',
      '--stun', '127.0.0.2:0', '--stun-alternate', '127.0.0.3:0', '--reflector-allow-private', '--trust-proxy', '10.0.0.0/8'])
    let worker: Child | undefined
    try {
      const [, httpPort, relayPort] = await relay.nextLine(
        /^iicp-relay listening http=http:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+) stun=(127\.0\.0\.2:\d+),127\.0\.0\.3:\d+$/)
      worker = start('iicp-worker', ['--relay', `127.0.0.1:${relayPort}`, '--worker-id', 'e2e-worker', '--model', 'echo', '--echo', '--log-level', 'warn'])
      const [, endpoint] = await worker.nextLine(/^iicp-worker bound .*endpoint=(\S+)$/)
      assert.equal(endpoint, `http://127.0.0.1:${httpPort}/v1/relay-for/e2e-worker`)

      const res = await fetch(`${endpoint}/v1/task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task_id: 't-e2e', intent: 'urn:x', payload: { q: 42 } }),
        signal: AbortSignal.timeout(10_000)
      })
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { task_id: 't-e2e', status: 'completed', result: { echo: { q: 42 } } })
      const health = await fetch(`${endpoint}/iicp/health`, { signal: AbortSignal.timeout(5000) })
      assert.deepEqual(await health.json(), { status: 'ok', node_id: 'e2e-worker', via_relay: true, models: ['echo'] })

      const probe = start('iicp-nat', ['probe', '--json', '--no-upnp', '--no-v6', '--no-trace', '--port', '0', '--reflector', `http://127.0.0.1:${httpPort}`])
      let out = ''
      probe.proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      const [code] = await once(probe.proc, 'exit') as [number | null]
      assert.equal(code, 1, probe.stderr())
      const report = JSON.parse(out) as ProbeReport
      assert.equal(report.inputs.stun_source, 'reflector')
      assert.equal(report.reachability_checks[0]?.counted_as, 'local_only', 'a loopback dial-back proves local reachability only')
      assert.equal(report.verification, 'self_attested')
      assert.equal(report.nat_behavior.method, 'rfc5780')
      assert.equal(report.nat_behavior.filtering, 'endpoint_independent')
      assert.equal(report.reachability_checks[0]?.reachable, true)
      assert.equal(report.reachability_checks[0]?.nonce_verified, true)
    } finally {
      const w = worker === undefined ? undefined : await stop(worker)
      const r = await stop(relay)
      if (w !== undefined) assert.equal(w.code, 0, `worker exit; stderr: ${worker?.stderr() ?? ''}`)
      assert.equal(r.code, 0, `relay exit; stderr: ${relay.stderr()}`)
      assert.ok(r.ms < 5000, `relay took ${r.ms} ms to exit`)
    }
  })

  it('iicp-relay refuses a --trust-proxy that is not an IP or CIDR, exit 2', async () => {
    const relay = start('iicp-relay', ['--http-port', '0', '--relay-port', '0', '--trust-proxy', 'proxy.example'])
    const [code] = await once(relay.proc, 'exit') as [number | null]
    assert.equal(code, 2)
    assert.match(relay.stderr(), /--trust-proxy must be an IP or CIDR, got "proxy\.example"/)
  })

  it('iicp-relay refuses --stun-alternate without --stun in one line, exit 2', async () => {
    const relay = start('iicp-relay', ['--http-port', '0', '--relay-port', '0', '--stun-alternate', '127.0.0.3:0'])
    const [code] = await once(relay.proc, 'exit') as [number | null]
    assert.equal(code, 2)
    assert.equal(relay.stderr(), 'iicp-relay: --stun-alternate needs --stun\n')
  })

  it('iicp-relay answers a loose --stun address (127.1) with a usage error, exit 2', async () => {
    const relay = start('iicp-relay', ['--http-port', '0', '--relay-port', '0', '--stun', '127.1:3478'])
    const [code] = await once(relay.proc, 'exit') as [number | null]
    assert.equal(code, 2)
    assert.match(relay.stderr(), /^iicp-relay: --stun must be HOST:PORT: invalid IP address "127\.1:3478": not an IP address or host name\n$/)
  })
})
