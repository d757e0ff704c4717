/**
 * The consumer client waits for a worker that is re-binding: after the worker has answered, a
 * 404 IICP-E030 from the relay (the task never reached a worker) is retried for a bounded time,
 * so a worker whose relay session a NAT flush or restart broke gets the task once it is back. A
 * worker that never answered gets the 404 at once. The connect offer of the upgrade that follows
 * a lost channel waits the same way (it is no refused offer), so the direct path comes back.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { createRelay, type Relay } from '../../relay/index.ts'
import { createWorker, type Worker } from '../../worker/index.ts'
import { createConnectClient } from '../../nat/connect/client.ts'

const LOOPBACK = '127.0.0.1'

function echoWorker (relayPort: number, workerId = 'w-rebind', direct = false): Worker {
  return createWorker({
    relayHost: LOOPBACK,
    relayPort,
    workerId,
    ...(direct ? { directBindAddress: LOOPBACK } : {}),
    handler: (task) => ({ result: { echo: (task as { payload?: unknown }).payload ?? null } })
  })
}

/** Resolves once `ready()` is true, checking every 20 ms, or rejects after `ms`. */
async function until (ready: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function task (id: string): Buffer {
  return Buffer.from(JSON.stringify({ task_id: id, intent: 'urn:test', payload: id }))
}

describe('consumer waits for a re-binding worker', () => {
  let relay: Relay
  let httpPort: number
  let relayPort: number

  before(async () => {
    relay = createRelay({ host: LOOPBACK, httpPort: 0, relayPort: 0 })
    ;({ httpPort, relayPort } = await relay.listen())
  })

  after(async () => {
    await relay.close()
  })

  it('a task sent while the worker it reached before is away is answered once it is bound again', async () => {
    const client = createConnectClient({ relayUrl: `http://${LOOPBACK}:${httpPort}`, workerId: 'w-rebind', direct: false })
    const first = echoWorker(relayPort)
    let second: Worker | undefined
    try {
      await first.start()
      await first.whenBound(AbortSignal.timeout(5000))
      assert.equal((await client.send(task('before'))).status, 200)
      await first.stop()
      const pending = client.send(task('during'), AbortSignal.timeout(20_000))
      // Bind the worker again only once the task has met the 404 and is waiting.
      await until(() => client.status().rebind_waits > 0, 10_000)
      second = echoWorker(relayPort)
      await second.start()
      const answer = await pending
      assert.equal(answer.status, 200, answer.body.toString())
      assert.equal(answer.path, 'relay')
      assert.deepEqual(JSON.parse(answer.body.toString()), { task_id: 'during', status: 'completed', result: { echo: 'during' } })
      assert.equal(client.status().rebind_waits, 1)
    } finally {
      await second?.stop()
      await first.stop()
      await client.close()
    }
  })

  it('the upgrade after a lost channel waits for the re-binding worker, and the direct path comes back', async () => {
    // A refused offer would put the next attempt a minute away: far beyond this test's waits.
    const client = createConnectClient({ relayUrl: `http://${LOOPBACK}:${httpPort}`, workerId: 'w-rebind-direct', bindAddress: LOOPBACK, retryMinMs: 100, retryMaxMs: 60_000 })
    const first = echoWorker(relayPort, 'w-rebind-direct', true)
    let second: Worker | undefined
    try {
      await first.start()
      await first.whenBound(AbortSignal.timeout(5000))
      const opened = once(client, 'path', { signal: AbortSignal.timeout(10_000) })
      assert.equal((await client.send(task('first'))).status, 200)
      assert.deepEqual(await opened, ['direct'])
      // The worker goes away: its channel and its relay session end together.
      const lost = once(client, 'path', { signal: AbortSignal.timeout(10_000) })
      await first.stop()
      assert.deepEqual(await lost, ['relay'])
      // The next upgrade's offer meets the 404 and waits; only then is the worker bound again.
      await until(() => client.status().rebind_waits > 0, 10_000)
      const reopened = once(client, 'path', { signal: AbortSignal.timeout(10_000) })
      second = echoWorker(relayPort, 'w-rebind-direct', true)
      await second.start()
      assert.deepEqual(await reopened, ['direct'])
      const status = client.status()
      assert.equal(status.upgrades.succeeded, 2)
      assert.equal(status.upgrades.failed, 0)
      assert.equal((await client.send(task('after'))).path, 'direct')
    } finally {
      await client.close()
      await second?.stop()
      await first.stop()
    }
  })

  it('a worker that never answered gets the 404 at once', async () => {
    const client = createConnectClient({ relayUrl: `http://${LOOPBACK}:${httpPort}`, workerId: 'w-never', direct: false })
    try {
      const answer = await client.send(task('nobody'))
      assert.equal(answer.status, 404)
      assert.equal((JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code, 'IICP-E030')
      assert.equal(client.status().rebind_waits, 0)
    } finally {
      await client.close()
    }
  })
})
