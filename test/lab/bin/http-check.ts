/**
 * One HTTP GET with a deadline, for reachability checks from the lab's internet namespace.
 * Usage: `http-check.ts URL [TIMEOUT_MS]` (default 2000). Prints `ok <status> <body>` and exits 0
 * on any HTTP answer, or prints `fail <code> <message>` and exits 1.
 */
import { get } from 'node:http'

const url = process.argv[2]
const timeoutMs = Number(process.argv[3] ?? '2000')
if (url === undefined || !Number.isFinite(timeoutMs)) {
  process.stderr.write('usage: http-check.ts URL [TIMEOUT_MS]\n')
  process.exit(2)
}

const req = get(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } }, res => {
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
