// A relay and a worker in one process, and one task forwarded without HTTP (README "Library API").
import { createRelay } from 'iicp-relay-toolkit/relay'
import { createWorker, type Task, type TaskAnswer } from 'iicp-relay-toolkit/worker'

// A public relay listens on host '::' with httpPort 9484 and relayPort 9485; port 0 picks free ports.
const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, nodeId: 'relay-1' })
const { relayPort } = await relay.listen()

const worker = createWorker({
  relayHost: '127.0.0.1',
  relayPort,
  workerId: 'my-gpu-box',
  intent: 'urn:iicp:intent:llm:chat:v1',
  handler: (task: Task): TaskAnswer => ({ result: { echo: task.payload } })
})
try {
  await worker.start()
  await worker.whenBound(AbortSignal.timeout(10_000))
  // forward() resolves with the worker's whole answer object, here { result: { echo: { q: 1 } } }.
  const { result: answer } = await relay.forward('my-gpu-box', { task_id: 't1', intent: 'urn:x', payload: { q: 1 } },
    { signal: AbortSignal.timeout(30_000) })
  console.log(JSON.stringify(answer.result)) // {"echo":{"q":1}}
} finally {
  await worker.stop()
  await relay.close()
}
