/**
 * Load and bookkeeping for the fleet failure tests: a bounded set of closed-loop callers, each
 * request with a unique task id and its own deadline, every answer (or error) recorded once;
 * and workers that count how often each task id ran, so a test can prove nothing ran twice.
 */
import { Agent, request } from 'node:http'
import type { WorkerOptions } from '../../worker/index.ts'

/** One request's fate. */
export interface CallRecord {
  taskId: string
  relay: string
  workerId: string
  /** HTTP status, or 0 for a transport error. */
  status: number
  /** `error.code` of an error body, or the transport error's code. */
  code: string
  /** Worker id the result came from (200 only). */
  answeredBy: string | undefined
  startedAt: number
  ms: number
}

/** Where callers send requests: a relay's HTTP port and a worker id. */
export type Pick = () => { relay: string, httpPort: number, workerId: string } | undefined

/** Task ids each worker ran, counted. */
export class ExecutionLog {
  readonly runs = new Map<string, number>()

  /** A handler answering `{result:{worker, task}}` after `delayMs`, counting the task id. */
  handler (workerId: string, delayMs: number): NonNullable<WorkerOptions['handler']> {
    return async (task) => {
      const id = String((task as { task_id?: unknown }).task_id)
      this.runs.set(id, (this.runs.get(id) ?? 0) + 1)
      await new Promise(resolve => setTimeout(resolve, delayMs))
      return { result: { worker: workerId, task: id } }
    }
  }
}

/** Options for {@link runCallers}. */
export interface CallersOptions {
  callers: number
  pick: Pick
  /** Per-request deadline: a request still unanswered then is recorded with status -1. */
  timeoutMs: number
  signal: AbortSignal
  /** Hard cap on requests. */
  maxRequests: number
}

/**
 * Runs `callers` closed loops until `signal` fires or `maxRequests` were sent; resolves with
 * every request's record once all have settled (each exactly once).
 */
export async function runCallers (o: CallersOptions): Promise<CallRecord[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.callers })
  const records: CallRecord[] = []
  let sent = 0
  const loop = async (n: number): Promise<void> => {
    while (!o.signal.aborted && sent < o.maxRequests) {
      const target = o.pick()
      if (target === undefined) {
        await new Promise(resolve => setTimeout(resolve, 10))
        continue
      }
      sent++
      const taskId = `c${n}-${sent}`
      records.push(await once(agent, target, taskId, o.timeoutMs))
    }
  }
  await Promise.all(Array.from({ length: o.callers }, async (_, n) => { await loop(n) }))
  agent.destroy()
  return records
}

async function once (agent: Agent, t: { relay: string, httpPort: number, workerId: string }, taskId: string, timeoutMs: number): Promise<CallRecord> {
  const startedAt = performance.now()
  const body = Buffer.from(JSON.stringify({ task_id: taskId, payload: 'x' }))
  const base = { taskId, relay: t.relay, workerId: t.workerId, startedAt }
  return await new Promise<CallRecord>(resolve => {
    let settled = false
    const settle = (status: number, code: string, answeredBy?: string): void => {
      if (settled) throw new Error(`request ${taskId} answered twice`)
      settled = true
      clearTimeout(timer)
      resolve({ ...base, status, code, answeredBy, ms: performance.now() - startedAt })
    }
    const timer = setTimeout(() => {
      settle(-1, 'no_answer')
      req.destroy()
    }, timeoutMs)
    const req = request({ host: '127.0.0.1', port: t.httpPort, path: `/v1/relay-for/${t.workerId}/v1/task`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => { if (!settled) settle(0, 'response_error') })
      res.on('end', () => {
        if (settled) return
        let parsed: { error?: { code?: string }, result?: { worker?: string } } = {}
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed
        } catch {
          // Non-JSON bodies keep an empty code.
        }
        settle(res.statusCode ?? 0, parsed.error?.code ?? '', parsed.result?.worker)
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => { if (!settled) settle(0, err.code ?? 'error') })
    req.end(body)
  })
}
