/**
 * The bench's reference relay: the least a relay can do on this machine with node:http, measured
 * in the same slices as the real one, so each issue-13 target can be read against it. An HTTP
 * front that forwards each request body over one TCP link to a worker (frames `u32 length | u32
 * id | payload`, payloads kept as the socket's chunks, never joined), and answers with
 * `{"task_id":…,"status":"completed",` spliced before the worker's members. It has none of the
 * real relay's checks, limits, deadlines, metrics or logging, no task id scan and no bad-JSON
 * 400, and it speaks no IICP framing: it is a floor, not a relay. The worker side runs the same
 * echo handler as the real worker.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, createServer as createNetServer, type Socket } from 'node:net'
import { once } from 'node:events'
import { echoResult } from './echo.ts'

const HEADER_BYTES = 8

function header (length: number, id: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES)
  h.writeUInt32BE(length, 0)
  h.writeUInt32BE(id, 4)
  return h
}

/** Calls `onFrame` with each frame's payload as slices of the socket's chunks (no copies). */
function readFrames (socket: Socket, onFrame: (id: number, parts: Buffer[], length: number) => void): void {
  let head: Buffer = Buffer.alloc(0)
  let need = -1
  let id = 0
  let length = 0
  let parts: Buffer[] = []
  socket.on('data', (chunk: Buffer) => {
    let off = 0
    while (off < chunk.length) {
      if (need < 0) {
        const take = Math.min(HEADER_BYTES - head.length, chunk.length - off)
        head = head.length === 0 && take === HEADER_BYTES ? chunk.subarray(off, off + take) : Buffer.concat([head, chunk.subarray(off, off + take)])
        off += take
        if (head.length < HEADER_BYTES) return
        length = head.readUInt32BE(0)
        id = head.readUInt32BE(4)
        head = Buffer.alloc(0)
        need = length
        parts = []
      }
      const take = Math.min(need, chunk.length - off)
      if (take > 0) parts.push(chunk.subarray(off, off + take))
      off += take
      need -= take
      if (need === 0) {
        need = -1
        onFrame(id, parts, length)
      }
    }
  })
}

function writeFrame (socket: Socket, id: number, parts: Buffer[], length: number): void {
  socket.cork()
  socket.write(header(length, id))
  for (const p of parts) socket.write(p)
  socket.uncork()
}

/** The one worker connection of a reference relay and its calls in flight. */
interface WorkerLink {
  socket: Socket
  pending: Map<number, (parts: Buffer[], length: number) => void>
  next: number
}

/** Answers one HTTP request through the worker link (503 while no worker is connected). */
function relayRequest (worker: WorkerLink | undefined, req: IncomingMessage, res: ServerResponse): void {
  if (worker === undefined) {
    res.writeHead(503).end()
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (c: Buffer) => { chunks.push(c); size += c.length })
  req.on('end', () => {
    const id = worker.next++
    worker.pending.set(id, (parts, length) => {
      // The bench's task id; the real relay scans it out of the task.
      const head = Buffer.from('{"task_id":"bench-1","status":"completed",', 'utf8')
      parts[0] = (parts[0] ?? Buffer.alloc(1)).subarray(1)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': head.length + length - 1 })
      res.cork()
      res.write(head)
      for (const p of parts) res.write(p)
      res.end()
      res.uncork()
    })
    writeFrame(worker.socket, id, chunks, size)
  })
}

/** Starts the reference relay; resolves with its HTTP and link ports and a stop function. */
export async function startMinimalRelay (): Promise<{ httpPort: number, linkPort: number, stop: () => Promise<void> }> {
  let worker: WorkerLink | undefined
  const link = createNetServer(socket => {
    socket.setNoDelay(true)
    const w: WorkerLink = { socket, pending: new Map(), next: 1 }
    worker = w
    socket.on('close', () => { if (worker === w) worker = undefined })
    readFrames(socket, (id, parts, length) => {
      const answer = w.pending.get(id)
      w.pending.delete(id)
      answer?.(parts, length)
    })
  })
  const http = createServer({ keepAliveTimeout: 60_000 }, (req, res) => { relayRequest(worker, req, res) })
  link.listen(0, '127.0.0.1')
  http.listen(0, '127.0.0.1')
  await Promise.all([once(link, 'listening'), once(http, 'listening')])
  const port = (s: { address: () => unknown }): number => (s.address() as { port: number }).port
  return {
    httpPort: port(http),
    linkPort: port(link),
    stop: async () => {
      http.closeAllConnections()
      worker?.socket.destroy()
      await Promise.all([new Promise(resolve => http.close(resolve)), new Promise(resolve => link.close(resolve))])
    }
  }
}

/** Connects the reference worker (the echo handler) to a reference relay's link port. */
export async function startMinimalWorker (linkPort: number): Promise<() => Promise<void>> {
  const socket = connect(linkPort, '127.0.0.1')
  socket.setNoDelay(true)
  await once(socket, 'connect')
  readFrames(socket, (id, parts, length) => {
    const task = JSON.parse(Buffer.concat(parts, length).toString('utf8')) as { task_id?: string, payload?: unknown }
    const answer = Buffer.from(JSON.stringify(echoResult(task)), 'utf8')
    writeFrame(socket, id, [answer], answer.length)
  })
  return async () => {
    socket.destroy()
    await once(socket, 'close')
  }
}
