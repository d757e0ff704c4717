/**
 * Soak campaign plumbing: a relay child process with stats over IPC, raw HTTP calls with a
 * keep-alive agent, latency percentiles and MiB formatting.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import type { RelayOptions } from '../../relay/index.ts'

/** What the relay child reports. */
export interface RelayStats { rss: number, heapUsed: number, external: number, arrayBuffers: number, sessions: number, loopP99Ms: number, loopMaxMs: number }

/** A relay running in a child process. */
export interface RelayChild {
  httpPort: number
  relayPort: number
  /** Full GC in the child, then its memory, sessions and event-loop delay since the last call. */
  stats: () => Promise<RelayStats>
  /** True while the child process runs. */
  alive: () => boolean
  /** How the child ended (exit code or signal), once it has. */
  exit: Promise<string>
  close: () => Promise<void>
}

/** Starts a relay child with `options` and extra Node flags (e.g. `--max-old-space-size=512`). */
export async function startRelayChild (options: RelayOptions, nodeFlags: string[] = []): Promise<RelayChild> {
  const child: ChildProcess = fork(new URL('./relay-child.ts', import.meta.url), [JSON.stringify(options)], {
    execArgv: ['--expose-gc', ...nodeFlags],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc']
  })
  let ended = false
  const exit = new Promise<string>(resolve => { child.once('exit', (code, signal) => { ended = true; resolve(signal ?? String(code)) }) })
  const [line] = await once(child.stdout!, 'data') as [Buffer]
  const { httpPort, relayPort } = JSON.parse(line.toString('utf8')) as { httpPort: number, relayPort: number }
  return {
    httpPort,
    relayPort,
    alive: () => !ended,
    exit,
    async stats () {
      child.send({ cmd: 'stats' })
      const [msg] = await Promise.race([once(child, 'message'), exit.then(how => { throw new Error(`relay child ended (${how})`) })]) as [RelayStats]
      return msg
    },
    async close () {
      if (ended) return
      child.send({ cmd: 'close' })
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
      await exit
      clearTimeout(timer)
    }
  }
}

/** One HTTP answer. */
export interface Answer { status: number, body: string, ms: number }

/** POSTs (or GETs without a body) with `agent`; never rejects: a socket error is status 0. */
export async function call (port: number, agent: Agent, path: string, body?: string, timeoutMs = 30_000): Promise<Answer> {
  const start = performance.now()
  return await new Promise<Answer>(resolve => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: body === undefined ? 'GET' : 'POST', headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, signal: AbortSignal.timeout(timeoutMs) }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - start }) })
      res.on('error', () => { resolve({ status: 0, body: '', ms: performance.now() - start }) })
    })
    req.on('error', (err) => { resolve({ status: 0, body: err.message, ms: performance.now() - start }) })
    req.end(body)
  })
}

/** The q-th percentile (0-100) of `values`. */
export function percentile (values: number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))] as number
}

/** Bytes as MiB with one decimal. */
export function mib (bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1)
}

/** A keep-alive agent for soak callers. */
export function keepAliveAgent (maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets })
}
