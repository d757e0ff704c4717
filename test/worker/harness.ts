/**
 * Shared pieces of the worker tests: fast timer options, an echo handler, event waits with a
 * deadline, and one teardown that closes workers before relays (explicit order, not FIFO hooks).
 */
import { once } from 'node:events'
import type { TestContext } from 'node:test'
import type { Worker, WorkerEvents } from '../../worker/index.ts'
import type { TaskHandler, WorkerOptions } from '../../worker/options.ts'

/** Short timers so tests run in milliseconds; long protocol timers stay out of the way unless a test sets them. */
export const FAST = {
  connectTimeoutMs: 2_000,
  handshakeTimeoutMs: 2_000,
  pingIntervalMs: 60_000,
  idleTimeoutMs: 120_000,
  reconnect: { minDelayMs: 20, maxDelayMs: 200 },
  stopGraceMs: 500
} satisfies Partial<WorkerOptions>

/** Answers `{"result": {"echo": task.payload}}`, like `iicp-worker --echo`. */
export const echoHandler: TaskHandler = task => ({ result: { echo: (task as { payload?: unknown }).payload ?? null } })

/** The arguments of the next `event`, or a rejection after `timeoutMs`. */
export async function nextEvent<K extends keyof WorkerEvents> (worker: Worker, event: K, timeoutMs = 5_000): Promise<WorkerEvents[K]> {
  const args = await once(worker as unknown as NodeJS.EventEmitter, event, { signal: AbortSignal.timeout(timeoutMs) })
  return args as WorkerEvents[K]
}

/** Registers one teardown that stops the workers first, then closes everything else, in order. */
export function teardown (t: TestContext, workers: Array<{ stop: () => Promise<void> }>, others: Array<{ close: () => Promise<void> }>): void {
  t.after(async () => {
    for (const w of workers) await w.stop()
    for (const o of others) await o.close()
  })
}
