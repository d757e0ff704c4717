/**
 * A fake IICP directory for worker tests: a real HTTP server on 127.0.0.1 port 0 that records
 * every request and answers `POST /v1/relay/ticket` and `POST /v1/register` (the only directory
 * calls a relay worker makes). Answers can be scripted per request, including never answering.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import { listenTcp } from '../../src/transport/listen.ts'

/** A request as the directory received it. */
export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** Parsed JSON body, or undefined when it was not JSON. */
  body: unknown
  /** Raw body text. */
  text: string
}

/** A scripted answer: a status and a JSON body, or `hang` to never answer. */
export type DirectoryReply = { status: number, body: unknown } | 'hang'

/** Options for {@link startFakeDirectory}. `n` counts requests to that path from 1. */
export interface FakeDirectoryOptions {
  /** @default 200 `{"ticket": "ticket-<n>"}` */
  ticket?: (req: RecordedRequest, n: number) => DirectoryReply
  /** @default 200 `{"node_id": <body.node_id>, "node_token": "token-<n>"}` */
  register?: (req: RecordedRequest, n: number) => DirectoryReply
}

/** A running fake directory. */
export interface FakeDirectory {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[]
  /** Requests to one path. */
  requestsTo: (path: string) => RecordedRequest[]
  /** Waits until `count` requests to `path` have arrived and returns them. */
  waitRequests: (path: string, count: number, timeoutMs?: number) => Promise<RecordedRequest[]>
  /** Closes the server and every connection. Idempotent. */
  close: () => Promise<void>
}

function reply (res: ServerResponse, r: DirectoryReply): void {
  if (r === 'hang') return
  const text = JSON.stringify(r.body)
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Starts the fake directory on 127.0.0.1, port 0. */
export async function startFakeDirectory (options: FakeDirectoryOptions = {}): Promise<FakeDirectory> {
  const requests: RecordedRequest[] = []
  let waiters: Array<() => void> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try { body = JSON.parse(text) } catch { body = undefined }
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, text }
      requests.push(rec)
      const n = requests.filter(r => r.path === rec.path).length
      if (rec.method === 'POST' && rec.path === '/v1/relay/ticket') {
        reply(res, options.ticket?.(rec, n) ?? { status: 200, body: { ticket: `ticket-${n}` } })
      } else if (rec.method === 'POST' && rec.path === '/v1/register') {
        const nodeId = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).node_id : undefined
        reply(res, options.register?.(rec, n) ?? { status: 200, body: { node_id: nodeId, node_token: `token-${n}` } })
      } else {
        reply(res, { status: 404, body: { error: { code: 'IICP-E404', message: 'not found' } } })
      }
      const w = waiters
      waiters = []
      for (const f of w) f()
    })
  })
  server.on('error', () => {})
  const address = await listenTcp(server, { port: 0, host: '127.0.0.1' })
  let closing: Promise<void> | undefined
  const requestsTo = (path: string): RecordedRequest[] => requests.filter(r => r.path === path)
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    requestsTo,
    waitRequests: async (path, count, timeoutMs = 5_000) => {
      const until = performance.now() + timeoutMs
      while (requestsTo(path).length < count) {
        const left = until - performance.now()
        if (left <= 0) throw new Error(`fake directory: ${requestsTo(path).length}/${count} requests to ${path} after ${timeoutMs} ms`)
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>(resolve => {
          waiters.push(resolve)
          timer = setTimeout(resolve, left)
        })
        clearTimeout(timer)
      }
      return requestsTo(path)
    },
    close: async () => {
      closing ??= (async () => {
        server.closeAllConnections()
        await new Promise<void>(resolve => { server.close(() => { resolve() }) })
      })()
      await closing
    }
  }
}
