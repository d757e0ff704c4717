/**
 * A closed-loop HTTP load generator for the benchmark: `concurrency` keep-alive connections,
 * each sending the next request as soon as the previous answer is read. Bounded in time and count.
 */
import { Agent, request } from 'node:http'

/** One load run's figures. */
export interface LoadResult {
  /** Answered requests in the measured phase. */
  requests: number
  /** Every request answered, warm-up included (for CPU per request). */
  total: number
  errors: number
  seconds: number
  reqPerSec: number
  p50Ms: number
  p99Ms: number
}

/** Options for {@link runLoad}. */
export interface LoadOptions {
  url: URL
  body: Buffer
  concurrency: number
  /** Measured phase length. */
  durationMs: number
  /** Unmeasured warm-up before it. */
  warmupMs: number
  /** Hard cap on measured requests. */
  maxRequests: number
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN
}

async function once (agent: Agent, url: URL, body: Buffer): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const req = request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      signal: AbortSignal.timeout(30_000)
    }, (res) => {
      res.on('data', () => {})
      res.on('end', () => { resolve(res.statusCode === 200) })
      res.on('error', () => { resolve(false) })
    })
    req.on('error', () => { resolve(false) })
    req.end(body)
  })
}

/** Runs a closed-loop load against `url` and returns req/s and latency percentiles. */
export async function runLoad (o: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency })
  const latencies: number[] = []
  let errors = 0
  let total = 0
  let measuring = false
  let stopped = false
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const t0 = performance.now()
      const ok = await once(agent, o.url, o.body)
      total++
      if (!measuring) continue
      if (stopped) break
      if (ok) latencies.push(performance.now() - t0)
      else errors++
      if (latencies.length >= o.maxRequests) stopped = true
    }
  }
  const workers = Array.from({ length: o.concurrency }, loop)
  await new Promise(resolve => setTimeout(resolve, o.warmupMs))
  measuring = true
  const measureStart = performance.now()
  await new Promise<void>(resolve => {
    const t = setTimeout(resolve, o.durationMs)
    const check = setInterval(() => { if (stopped) { clearTimeout(t); clearInterval(check); resolve() } }, 20)
    t.unref()
    setTimeout(() => { clearInterval(check) }, o.durationMs + 10).unref()
  })
  const seconds = (performance.now() - measureStart) / 1000
  stopped = true
  await Promise.all(workers)
  agent.destroy()
  const sorted = Float64Array.from(latencies).sort()
  return {
    requests: latencies.length,
    total,
    errors,
    seconds,
    reqPerSec: latencies.length / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99)
  }
}
