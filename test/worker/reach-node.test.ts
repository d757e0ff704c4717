/**
 * The reachable node on loopback, with real parts: nat's dial-back reflector, real relays, the
 * contract-faithful fake directory. Direct rung verified and registered; relay failover across a
 * `--relay` list; a directory that is down at start.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createReflectorServer } from '../../nat/index.ts'
import { natCapabilities } from '../../nat/reach-capabilities.ts'
import { createNode } from '../../worker/bin/create-node.ts'
import type { ReachCapabilities } from '../../src/reach/capabilities.ts'
import type { Transition } from '../../worker/reach/ladder.ts'
import { startFakeDirectory } from '../helpers/fake-directory.ts'
import { startRelay } from '../helpers/relay-harness.ts'
import { silentLogger } from '../../src/log.ts'

const echo = (task: unknown): unknown => ({ result: { echo: (task as { payload?: unknown }).payload ?? null } })

/** nat's capabilities with loopback as this host's "public" address and no router. */
function loopbackCaps (publicV4: string[]): ReachCapabilities {
  const caps = natCapabilities({ logger: silentLogger() })
  return {
    ...caps,
    localAddresses: () => ({ ipv4: publicV4, ipv6: [] }),
    mapPort: async () => { await Promise.resolve(); throw new Error('no IGD (test)') },
    natType: async () => await Promise.resolve('port_restricted' as const)
  }
}

async function postTask (endpoint: string, payload: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(`${endpoint}/v1/task`, { method: 'POST', body: JSON.stringify({ task_id: 't1', payload }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

describe('reachable node on loopback', () => {
  it('direct: verified through the reflector, registered as direct, serves tasks and HEAD /iicp/health, deregisters on stop', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, rateLimit: 0, allowPrivate: true })
    const { url: reflectorUrl } = await reflector.listen()
    const dir = await startFakeDirectory({ contract: true })
    const node = await createNode({
      nodeId: 'direct-1', handler: echo, port: 0, host: '127.0.0.1', reflectors: [reflectorUrl],
      relays: [{ host: '127.0.0.1', port: 1 }], directory: { url: dir.url }, capabilities: loopbackCaps(['127.0.0.1'])
    })
    try {
      const s = node.status()
      assert.equal(s.rung, 'direct')
      const row = dir.state?.nodes.get('direct-1')
      assert.ok(row !== undefined, 'registered')
      assert.equal(row.payload.transport_method, 'direct')
      assert.equal(row.payload.exposure_mode, 'ipv4_public_direct')
      assert.equal(row.payload.endpoint, `http://127.0.0.1:${node.port}`)
      const answer = await postTask(String(row.payload.endpoint), 'hi')
      assert.deepEqual(answer, { status: 200, body: { task_id: 't1', status: 'completed', result: { echo: 'hi' } } })
      const head = await fetch(`${String(row.payload.endpoint)}/iicp/health`, { method: 'HEAD' })
      assert.equal(head.status, 200)
      const health = await (await fetch(`${String(row.payload.endpoint)}/iicp/health`)).json() as Record<string, unknown>
      assert.equal(health.rung, 'direct')
      assert.deepEqual(health.registration, { state: 'registered', registrations: 1, last_error: null })
      const metrics = await (await fetch(`${String(row.payload.endpoint)}/metrics`)).text()
      assert.match(metrics, /iicp_reach_rung\{rung="direct"\} 1/)
    } finally {
      await node.stop()
      await reflector.close()
    }
    assert.equal(dir.state?.nodes.has('direct-1'), false, 'deregistered on stop')
    await dir.close()
  })

  it('relay list: binds one relay, and the other within 10 s after the first dies; re-registers turn_relay each time', async () => {
    const relays = [await startRelay(), await startRelay()]
    const dir = await startFakeDirectory({ contract: true })
    const node = await createNode({
      nodeId: 'relay-1', handler: echo, port: 0, host: '127.0.0.1', reflectors: [],
      relays: relays.map(r => ({ host: '127.0.0.1', port: r.relayPort })), directory: { url: dir.url }, capabilities: loopbackCaps([])
    })
    try {
      assert.equal(node.status().rung, 'relay')
      const first = dir.state?.nodes.get('relay-1')?.payload
      assert.equal(first?.transport_method, 'turn_relay')
      assert.equal(first?.exposure_mode, 'relay_required')
      assert.equal(first?.nat_type, 'port_restricted')
      const firstEndpoint = String(first?.endpoint)
      assert.equal((await postTask(firstEndpoint, 1)).status, 200)
      const victim = relays.find(r => firstEndpoint.includes(`:${r.httpPort}/`))
      assert.ok(victim !== undefined)
      const survivor = relays.find(r => r !== victim)
      const moved = once(node, 'change') as Promise<[Transition]>
      const killedAt = performance.now()
      await victim.close()
      const [t] = await moved
      const ms = performance.now() - killedAt
      process.stdout.write(`# reach-result relay failover: bound the next relay in ${Math.round(ms)} ms (${t.from} -> ${t.to})\n`)
      assert.ok(ms < 10_000)
      assert.equal(t.to, 'relay')
      const second = dir.state?.nodes.get('relay-1')?.payload
      assert.equal(second?.endpoint, `http://127.0.0.1:${survivor?.httpPort}/v1/relay-for/relay-1`)
      assert.equal(dir.state?.nodes.get('relay-1')?.registrations, 2)
      assert.equal((await postTask(String(second?.endpoint), 2)).status, 200)
    } finally {
      await node.stop()
      for (const r of relays) await r.close()
      await dir.close()
    }
  })

  it('directory down at start: serves at once and registers once the directory is back', async () => {
    const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, rateLimit: 0, allowPrivate: true })
    const { url: reflectorUrl } = await reflector.listen()
    const dir = await startFakeDirectory({ contract: true })
    dir.setDown(true)
    const node = await createNode({
      nodeId: 'late-1', handler: echo, port: 0, host: '127.0.0.1', reflectors: [reflectorUrl], relays: [{ host: '127.0.0.1', port: 1 }],
      directory: { url: dir.url }, registerRetryMs: 200, capabilities: loopbackCaps(['127.0.0.1'])
    })
    try {
      assert.equal(node.status().rung, 'direct')
      assert.equal((node.status().registration as { state: string }).state, 'pending')
      assert.equal((await postTask(`http://127.0.0.1:${node.port}`, 'x')).status, 200)
      dir.setDown(false)
      await dir.waitRequests('/api/v1/register', 1, 5000)
      const until = performance.now() + 5000
      while (dir.state?.nodes.has('late-1') !== true && performance.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
      assert.equal(dir.state?.nodes.get('late-1')?.payload.transport_method, 'direct')
    } finally {
      await node.stop()
      await reflector.close()
      await dir.close()
    }
  })
})

describe('iicp-worker --auto --supervised', () => {
  it('exits 75 after --give-up-after with no rung (nothing public, no router answering, relay refused)', async () => {
    const { spawn } = await import('node:child_process')
    const bin = new URL('../../worker/bin/iicp-worker.ts', import.meta.url).pathname
    const child = spawn(process.execPath, [bin, '--auto', '--worker-id', 'gives-up', '--echo', '--port', '0', '--host', '127.0.0.1',
      '--relay', '127.0.0.1:1', '--reflector', 'http://127.0.0.1:1', '--gateway', 'http://127.0.0.1:1/rootDesc.xml', '--map-timeout', '0.3',
      '--supervised', '--give-up-after', '1', '--retry-every', '0.3', '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const [code] = await once(child, 'exit') as [number | null]
    clearTimeout(timer)
    assert.equal(code, 75, out)
    assert.match(out, /✗ relay 127\.0\.0\.1:1 /)
    assert.match(out, /exiting 75/)
  })
})
