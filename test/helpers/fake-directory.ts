/**
 * A fake IICP directory for worker tests: a real HTTP server on 127.0.0.1 port 0 that records
 * every request and answers `POST /v1/relay/ticket` and `POST /v1/register` (the only directory
 * calls a relay worker makes). Answers can be scripted per request, including never answering.
 * With `contract`, it is the stateful directory of directory-contract.md under `/api/v1`
 * (test/helpers/fake-directory-contract.ts), and `url` ends in `/api` as the SDKs take it.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { listenTcp } from '../../src/transport/listen.ts'
import { ContractDirectory, type ContractOptions } from './fake-directory-contract.ts'

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
  /** Serve the stateful contract directory under `/api/v1` (scripted answers still win for their paths). */
  contract?: ContractOptions | true
  /** Listen address. @default '127.0.0.1' (the NAT lab runs it on an internet-namespace address) */
  host?: string
  /** Listen port. @default 0 */
  port?: number
  /** Called with every answer sent (the lab's directory process prints them). */
  onReply?: (req: RecordedRequest, reply: DirectoryReply) => void
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
  /** The contract directory's state (with `contract`). */
  readonly state: ContractDirectory | undefined
  /** While down, every connection is reset at once (a directory outage). */
  setDown: (down: boolean) => void
  /** Closes the server and every connection. Idempotent. */
  close: () => Promise<void>
}

function writeReply (res: ServerResponse, r: DirectoryReply): void {
  if (r === 'hang') return
  const text = JSON.stringify(r.body)
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Starts the fake directory on 127.0.0.1, port 0. */
export async function startFakeDirectory (options: FakeDirectoryOptions = {}): Promise<FakeDirectory> {
  const requests: RecordedRequest[] = []
  let waiters: Array<() => void> = []
  const state = options.contract === undefined ? undefined : new ContractDirectory(options.contract === true ? {} : options.contract)
  let down = false
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const reply = (_: ServerResponse, r: DirectoryReply): void => {
      writeReply(res, r)
      options.onReply?.(rec, r)
    }
    let rec: RecordedRequest
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try { body = JSON.parse(text) } catch { body = undefined }
      rec = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, text }
      requests.push(rec)
      const n = requests.filter(r => r.path === rec.path).length
      const url = new URL(rec.path, 'http://fake')
      // In contract mode, scripted answers (register, ticket) still win for their paths under /api.
      const route = state !== undefined && url.pathname.startsWith('/api/') ? url.pathname.slice(4) : rec.path
      const scripted = (route === '/v1/register' && options.register !== undefined) || (route === '/v1/relay/ticket' && options.ticket !== undefined)
      if (state !== undefined && route.startsWith('/v1/') && !(rec.method === 'POST' && scripted)) {
        void state.handle(rec.method, route, url.searchParams, req.headers, body).then(r => { reply(res, r) })
      } else if (rec.method === 'POST' && route === '/v1/relay/ticket') {
        reply(res, options.ticket?.(rec, n) ?? { status: 200, body: { ticket: `ticket-${n}` } })
      } else if (rec.method === 'POST' && route === '/v1/register') {
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
  server.on('connection', (socket: Socket) => {
    if (down) {
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  const host = options.host ?? '127.0.0.1'
  const address = await listenTcp(server, { port: options.port ?? 0, host })
  let closing: Promise<void> | undefined
  const requestsTo = (path: string): RecordedRequest[] => requests.filter(r => r.path === path)
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}${state === undefined ? '' : '/api'}`,
    requests,
    state,
    setDown: d => {
      down = d
      if (d) for (const s of sockets) s.destroy()
    },
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
