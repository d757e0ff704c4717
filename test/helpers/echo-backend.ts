/**
 * A local HTTP task backend for worker tests on 127.0.0.1 port 0: `POST /v1/task` echoes the
 * task's payload as `{"result": {"echo": payload}}`. The payload's `mode` scripts other answers:
 * - `fail`: 500 `{"error": {"code": "E-TEST", "message": payload.message}}`
 * - `status-error`: 422 `{"status": "error", "message": payload.message}`
 * - `garbage`: 200 with a non-JSON body
 * - `array`: 200 `[1, 2]`
 * - `slow`: echo after `payload.ms` milliseconds
 */
import { createServer } from 'node:http'
import { listenTcp } from '../../src/transport/listen.ts'

/** A running echo backend. */
export interface EchoBackend {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** Parsed bodies of every `/v1/task` request, in arrival order. */
  readonly tasks: unknown[]
  /** Closes the server, every connection and pending timers. Idempotent. */
  close: () => Promise<void>
}

/** Starts the echo backend. */
export async function startEchoBackend (): Promise<EchoBackend> {
  const tasks: unknown[] = []
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      const send = (status: number, body: string): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      }
      if (req.method !== 'POST' || req.url !== '/v1/task') { send(404, '{"error":{"message":"not found"}}'); return }
      let task: { payload?: { mode?: string, message?: string, ms?: number } } | undefined
      try {
        task = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof task
      } catch {
        send(400, '{"error":{"message":"invalid JSON"}}')
        return
      }
      tasks.push(task)
      const payload = task?.payload
      switch (payload?.mode ?? 'echo') {
        case 'fail': send(500, JSON.stringify({ error: { code: 'E-TEST', message: payload?.message ?? 'backend failed' } })); break
        case 'status-error': send(422, JSON.stringify({ status: 'error', message: payload?.message ?? 'bad task' })); break
        case 'garbage': send(200, '<html>not json</html>'); break
        case 'array': send(200, '[1,2]'); break
        case 'slow': {
          const t = setTimeout(() => {
            timers.delete(t)
            send(200, JSON.stringify({ result: { echo: payload } }))
          }, payload?.ms ?? 100)
          timers.add(t)
          break
        }
        default: send(200, JSON.stringify({ result: { echo: payload ?? null } }))
      }
    })
  })
  server.on('error', () => {})
  const address = await listenTcp(server, { port: 0, host: '127.0.0.1' })
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${address.port}`,
    tasks,
    close: async () => {
      closing ??= (async () => {
        for (const t of timers) clearTimeout(t)
        timers.clear()
        server.closeAllConnections()
        await new Promise<void>(resolve => { server.close(() => { resolve() }) })
      })()
      await closing
    }
  }
}
