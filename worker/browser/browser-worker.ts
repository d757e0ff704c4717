/**
 * A relay worker for the browser (or any runtime with `fetch`): binds through the relay's
 * long-poll API, pulls calls, runs them through a handler, posts the results, and binds again
 * with back-off when the session ends. No Node modules; see index.html for an example page.
 */
import { PollClient, PollError, type PollFetch, type PulledCall } from './poll-client.ts'

/** Runs one task; the return value is the result object (`{"result": …}` by convention). A throw answers `{"error": message}`. */
export type BrowserTaskHandler = (task: unknown, callId: string) => unknown

/** Worker states reported to `onState`. */
export type BrowserWorkerState = 'binding' | 'bound' | 'backoff' | 'stopped'

/** Options of {@link startBrowserWorker}. */
export interface BrowserWorkerOptions {
  /** The relay's HTTP(S) front, e.g. `https://relay.example.net`. */
  relayUrl: string
  workerId: string
  handler: BrowserTaskHandler
  intent?: string
  models?: string[]
  ticket?: string
  /** Tasks run at once; more wait in the relay's queue. @default 8 */
  maxConcurrent?: number
  /** First and largest back-off between failed binds. @default 2000 / 60000 */
  minDelayMs?: number
  maxDelayMs?: number
  /** Called on every state change, with the error behind `backoff`. */
  onState?: (state: BrowserWorkerState, detail?: string) => void
  /** @default globalThis.fetch */
  fetch?: PollFetch
}

/** A running browser worker. */
export interface BrowserWorker {
  /** Stops pulling, unbinds, and resolves when the loop has ended. */
  stop: () => Promise<void>
}

function message (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function wait (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** The JSON text of a handler's outcome; non-objects and throws become `{"error": …}`. */
async function runTask (handler: BrowserTaskHandler, call: PulledCall): Promise<string> {
  try {
    const value = await handler(call.task, call.callId)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return JSON.stringify(value)
    return JSON.stringify({ error: 'handler returned a result that is not a JSON object' })
  } catch (err) {
    return JSON.stringify({ error: message(err) })
  }
}

/** Starts the bind/pull loop at once. */
export function startBrowserWorker (o: BrowserWorkerOptions): BrowserWorker {
  const stopController = new AbortController()
  const signal = stopController.signal
  const client = new PollClient(o.relayUrl, o.fetch)
  const maxConcurrent = o.maxConcurrent ?? 8
  const minDelay = o.minDelayMs ?? 2000
  const maxDelay = o.maxDelayMs ?? 60_000
  const running = new Set<Promise<void>>()
  const state = (s: BrowserWorkerState, detail?: string): void => { o.onState?.(s, detail) }

  /** The stop signal plus a per-request deadline. */
  const within = (ms: number): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(ms)])

  async function serve (holdS: number): Promise<void> {
    for (;;) {
      while (running.size >= maxConcurrent) await Promise.race(running)
      const call = await client.pull(within((holdS + 15) * 1000))
      if (call === undefined) continue
      const task = runTask(o.handler, call).then(async json => { await client.result(call.callId, json, within(30_000)) }).catch(() => {
        // A result that cannot be posted fails the consumer's call by timeout; the pull loop notices a dead session.
      })
      const tracked = task.finally(() => { running.delete(tracked) })
      running.add(tracked)
    }
  }

  async function loop (): Promise<void> {
    let delay = minDelay
    while (!signal.aborted) {
      state('binding')
      try {
        const binding = await client.bind({ workerId: o.workerId, ...(o.intent === undefined ? {} : { intent: o.intent }), models: o.models ?? [], ...(o.ticket === undefined ? {} : { ticket: o.ticket }) }, within(30_000))
        delay = minDelay
        state('bound')
        await serve(binding.pollTimeoutS)
      } catch (err) {
        if (signal.aborted) break
        const ended = err instanceof PollError && err.sessionEnded
        state('backoff', message(err))
        await wait(ended ? Math.round(minDelay * Math.random()) : Math.round(delay * (1 + Math.random())), signal)
        if (!ended) delay = Math.min(delay * 2, maxDelay)
      }
    }
  }

  const done = loop()
  return {
    async stop () {
      stopController.abort()
      await done
      await Promise.allSettled(running)
      await client.unbind(AbortSignal.timeout(5000)).catch(() => { /* not bound, or the relay is gone */ })
      state('stopped')
    }
  }
}
