/**
 * `iicp-relay --directory`: the relay registers itself as relay_capable with its relay-accept
 * port in transport_metadata, fetches the directory key for --require-ticket, heartbeats its
 * load, and deregisters on stop; a worker with only --directory elects it, binds with a
 * directory ticket, and registers as turn_relay (contract-faithful fake directory).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { relayMain } from '../../relay/cli.ts'
import { createNode } from '../../worker/bin/create-node.ts'
import { startFakeDirectory } from '../helpers/fake-directory.ts'

async function until (f: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!f()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

describe('relay self-registration', () => {
  it('registers relay_capable, serves a worker that elected it with a directory ticket, heartbeats load, deregisters on stop', async () => {
    const dir = await startFakeDirectory({ contract: true })
    const stop = new AbortController()
    const out = new PassThrough()
    let printed = ''
    out.on('data', (c: Buffer) => { printed += c.toString() })
    const running = relayMain(['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--node-id', 'relay-a', '--directory', dir.url, '--require-ticket', '--heartbeat-every', '0.2', '--log-level', 'silent'], {}, { stop: stop.signal, out })
    try {
      await until(() => dir.state?.nodes.has('relay-a') === true, 5000, 'the relay registration')
      const row = dir.state?.nodes.get('relay-a')
      const relayPort = Number(/relay=127\.0\.0\.1:(\d+)/.exec(printed)?.[1])
      assert.equal(row?.relay_capable, true)
      assert.deepEqual(row?.payload.transport_metadata, { relay_accept_port: relayPort })
      assert.equal(dir.requestsTo('/api/v1/directory-key').length, 1, 'fetched the key for --require-ticket')
      const node = await createNode({
        nodeId: 'w-elect', handler: () => ({ result: 'ok' }), port: 0, host: '127.0.0.1', directory: { url: dir.url },
        capabilities: { localAddresses: () => ({ ipv4: [], ipv6: [] }), verify: async () => await Promise.resolve({ reachable: false, observedAddress: null, error: 'unused' }), mapPort: async () => { await Promise.resolve(); throw new Error('no IGD') } }
      })
      try {
        assert.equal(node.status().rung, 'relay')
        const w = dir.state?.nodes.get('w-elect')?.payload
        assert.equal(w?.transport_method, 'turn_relay')
        assert.equal((w?.transport_metadata as Record<string, unknown>).relay_node_id, 'relay-a')
        assert.ok(dir.requestsTo('/api/v1/relay/ticket').length >= 1, 'the worker fetched a ticket')
        const res = await fetch(`${String(w?.endpoint)}/v1/task`, { method: 'POST', body: '{"task_id":"t"}' })
        assert.equal(res.status, 200)
        await until(() => (dir.state?.nodes.get('relay-a')?.load ?? 0) > 0, 5000, 'a heartbeat with the load of one session')
      } finally {
        await node.stop()
      }
      stop.abort()
      assert.equal(await running, 0)
      assert.equal(dir.state?.nodes.has('relay-a'), false, 'deregistered on stop')
    } finally {
      stop.abort()
      await running.catch(() => undefined)
      await dir.close()
    }
  })
})
