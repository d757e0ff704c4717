/**
 * `npm run demo`: starts a relay and an echo worker on loopback, sends one real task through
 * the relay over HTTP, prints the answer and shuts everything down. Ports are ephemeral.
 */
import { createRelay } from '../index.ts'
import { createWorker } from '../../worker/index.ts'

async function demo (): Promise<number> {
  const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0 })
  const { httpPort, relayPort } = await relay.listen()
  process.stdout.write(`relay   listening http=http://127.0.0.1:${httpPort} relay=127.0.0.1:${relayPort}\n`)
  const worker = createWorker({
    relayHost: '127.0.0.1',
    relayPort,
    workerId: 'demo-worker',
    intent: 'urn:iicp:intent:demo:echo:v1',
    models: ['echo'],
    handler: (task) => ({ result: { echo: (task as { payload?: unknown }).payload ?? null } })
  })
  try {
    await worker.start()
    const bound = await worker.whenBound(AbortSignal.timeout(10_000))
    process.stdout.write(`worker  bound as ${bound.workerId}; consumers call ${bound.endpoint}/v1/task\n`)
    const task = { task_id: 'demo-1', intent: 'urn:iicp:intent:demo:echo:v1', payload: { question: 'hello through the relay' } }
    process.stdout.write(`task    POST ${bound.endpoint}/v1/task ${JSON.stringify(task)}\n`)
    const res = await fetch(`${bound.endpoint}/v1/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(task),
      signal: AbortSignal.timeout(10_000)
    })
    process.stdout.write(`answer  HTTP ${res.status} ${await res.text()}\n`)
    return res.status === 200 ? 0 : 1
  } finally {
    await worker.stop()
    await relay.close()
  }
}

demo().then(code => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
