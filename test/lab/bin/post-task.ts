/**
 * A consumer in the lab's internet namespace: POSTs one task to `<endpoint>/v1/task`.
 * Usage: `post-task.ts ENDPOINT PAYLOAD_JSON [TIMEOUT_MS]`. Prints `status <code> <body>`
 * (exit 0) or `fail <code> <message>` (exit 1).
 */
const [endpoint, payload, timeout] = process.argv.slice(2)
if (endpoint === undefined || payload === undefined) {
  process.stderr.write('usage: post-task.ts ENDPOINT PAYLOAD_JSON [TIMEOUT_MS]\n')
  process.exit(2)
}
try {
  const res = await fetch(`${endpoint}/v1/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task_id: 'lab-task', payload: JSON.parse(payload) as unknown }),
    signal: AbortSignal.timeout(Number(timeout ?? '10000'))
  })
  process.stdout.write(`status ${res.status} ${(await res.text()).trim()}\n`)
} catch (err) {
  const e = err as Error & { cause?: { code?: string } }
  process.stdout.write(`fail ${e.cause?.code ?? e.name} ${e.message}\n`)
  process.exit(1)
}
