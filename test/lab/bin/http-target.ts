/**
 * A tiny HTTP service for the lab's reachability checks: answers every request with
 * `200 iicp-lab-target <port>`. Usage: `http-target.ts --port N [--host ADDR]` (default host `::`,
 * dual stack). Prints `listening <port>`, then runs until SIGTERM/SIGINT.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string', default: '::' } } })
const port = Number(values.port ?? '0')
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${values.port ?? ''}`)

const server = createServer((req, res) => {
  req.resume()
  res.setHeader('connection', 'close')
  res.end(`iicp-lab-target ${(server.address() as AddressInfo).port}\n`)
})
server.on('error', err => { process.stderr.write(`http-target: ${err.message}\n`); process.exit(1) })
server.listen({ port, host: values.host }, () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`)
})
const stop = (): void => {
  server.close(() => { process.exit(0) })
  server.closeAllConnections()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
