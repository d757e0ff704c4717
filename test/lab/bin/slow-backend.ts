/**
 * A task backend that answers `POST /v1/task` after the delay the task asks for
 * (`{"payload":{"delay_ms":N}}`), with `{"result":{"slept_ms":N}}`.
 * Usage: `slow-backend.ts --port N` (listens on 127.0.0.1). Prints `listening <url>`, then
 * `task delay_ms=N` as each task arrives.
 */
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } })
const server = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => { if (body.length < 65_536) body += c })
  req.on('end', () => {
    let delay = 0
    try { delay = Math.min(30_000, Number((JSON.parse(body) as { payload?: { delay_ms?: number } }).payload?.delay_ms ?? 0)) } catch { delay = 0 }
    process.stdout.write(`task delay_ms=${delay}\n`)
    setTimeout(() => {
      const text = JSON.stringify({ result: { slept_ms: delay } })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }, delay)
  })
})
server.listen(Number(values.port), '127.0.0.1', () => {
  const a = server.address()
  process.stdout.write(`listening http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}\n`)
})
process.once('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
