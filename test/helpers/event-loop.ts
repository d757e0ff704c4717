/** Test helper: keep the event loop alive while a suite waits on unref'd timers. */
import { after, before } from 'node:test'

/**
 * Holds a ref'd timer from the suite's start to its end. Code under test that arms only
 * unref'd timers (deadline queues, the reach ladder) leaves nothing else to keep the loop
 * alive; Node 22's test runner then ends an awaiting test with "Promise resolution is still
 * pending but the event loop has already resolved" (Node 24's runner keeps the loop alive).
 * Call it inside `describe`.
 */
export function holdEventLoop (): void {
  let timer: NodeJS.Timeout | undefined
  before(() => { timer = setInterval(() => {}, 60_000) })
  after(() => { clearInterval(timer) })
}
