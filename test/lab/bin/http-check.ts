/**
 * One HTTP GET with a deadline, for reachability checks from the lab's internet namespace.
 * Usage: `http-check.ts URL [TIMEOUT_MS] [LOCAL_ADDRESS]` (default 2000 ms; the local address picks
 * the source, e.g. an internet host the client never contacted). Prints `ok <status> <body>` and
 * exits 0 on any HTTP answer, or prints `fail <code> <message>` and exits 1.
 */
import { get } from 'node:http'

const url = process.argv[2]
const timeoutMs = Number(process.argv[3] ?? '2000')
const localAddress = process.argv[4]
if (url === undefined || !Number.isFinite(timeoutMs)) {
  process.stderr.write('usage: http-check.ts URL [TIMEOUT_MS] [LOCAL_ADDRESS]\n')
  process.exit(2)
}

const options = { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' }, ...(localAddress === undefined ? {} : { localAddress }) }
const req = get(url, options, res => {
  let body = ''
  res.setEncoding('utf8')
  res.on('data', (c: string) => { if (body.length < 4096) body += c })
  res.on('end', () => {
    process.stdout.write(`ok ${res.statusCode ?? 0} ${body.trim()}\n`)
    process.exit(0)
  })
})
req.on('error', (err: NodeJS.ErrnoException) => {
  process.stdout.write(`fail ${err.code ?? err.name} ${err.message}\n`)
  process.exit(1)
})
