/**
 * Lab driver, run inside the consumer's namespace next to `iicp-connect`: sends tasks to its
 * local endpoint and prints one JSON summary line. Every task carries a unique payload and its
 * answer must echo it (so a lost, duplicated or crossed answer shows up), and the path of each
 * task is read from the `x-iicp-path` header.
 *
 * Usage: direct-driver.ts --url http://127.0.0.1:8080 --seconds S --concurrency C [--until-upgraded MS]
 *   --until-upgraded: stop as soon as the status shows a direct/turn path (or after MS).
 */
import { Agent, request } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1' },
    'until-upgraded': { type: 'string' }
  }
})
const base = values.url ?? 'http://127.0.0.1:8080'
const agent = new Agent({ keepAlive: true, maxSockets: 64 })

async function call (method: string, path: string, body?: Buffer): Promise<{ status: number, path: string, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent, signal: AbortSignal.timeout(30_000), headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, path: String(res.headers['x-iicp-path'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const paths: Record<string, number> = {}
let sent = 0
let answered = 0
let wrong = 0
const errors: string[] = []
const started = performance.now()
const stopAt = started + Number(values.seconds) * 1000
const untilUpgraded = values['until-upgraded'] === undefined ? undefined : Number(values['until-upgraded'])
let upgraded = false
let seq = 0

async function status (): Promise<Record<string, unknown>> {
  return JSON.parse((await call('GET', '/iicp/connect/status')).body) as Record<string, unknown>
}

async function lane (): Promise<void> {
  for (;;) {
    const now = performance.now()
    if (untilUpgraded === undefined ? now > stopAt : (upgraded || now - started > untilUpgraded)) return
    const n = ++seq
    sent++
    try {
      const r = await call('POST', '/v1/task', Buffer.from(JSON.stringify({ task_id: `t${n}`, intent: 'urn:lab', payload: { n } })))
      const parsed = JSON.parse(r.body) as { task_id?: string, result?: { echo?: { n?: number } } }
      if (r.status === 200 && parsed.task_id === `t${n}` && parsed.result?.echo?.n === n) answered++
      else { wrong++; if (errors.length < 5) errors.push(`${r.status} ${r.body.slice(0, 200)}`) }
      paths[r.path] = (paths[r.path] ?? 0) + 1
    } catch (err) {
      wrong++
      if (errors.length < 5) errors.push((err as Error).message)
    }
  }
}

async function watch (): Promise<void> {
  while (untilUpgraded !== undefined && !upgraded && performance.now() - started < untilUpgraded) {
    const s = await status()
    if (s.path !== 'relay') upgraded = true
    else await new Promise(resolve => setTimeout(resolve, 20))
  }
}

await Promise.all([watch(), ...Array.from({ length: Number(values.concurrency) }, async () => { await lane() })])
const final = await status()
process.stdout.write(`${JSON.stringify({ sent, answered, wrong, paths, errors, status: final })}\n`)
agent.destroy()
