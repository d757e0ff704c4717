/**
 * Handle-leak checks: sockets, servers and referenced timers must not outlive a test or suite.
 * Counts come from process.getActiveResourcesInfo(), by kind (`UDPWrap`, `TCPSocketWrap`,
 * `TCPServerWrap`, `Timeout`, …).
 */
import assert from 'node:assert/strict'

/** The kinds that matter for TCP components: sockets, servers and timers. */
export const TCP_HANDLE_KINDS: readonly string[] = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']

/** Counts of process.getActiveResourcesInfo() by kind; only `kinds` when given. */
export function handleCounts (kinds?: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) {
    if (kinds === undefined || kinds.includes(r)) counts[r] = (counts[r] ?? 0) + 1
  }
  return counts
}

/** Lets handles that are closing reach the event loop's close phase (libuv releases them a loop turn or two after 'close'). */
export async function settleHandles (turns = 2): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>(resolve => { setImmediate(resolve) })
}

/**
 * Asserts that no more handles of `kinds` are active than in `baseline`. libuv releases a closed
 * handle a few loop turns after its 'close' event, so this yields to the event loop (bounded: at
 * most 50 turns) before failing.
 */
export async function assertNoLeakedHandles (baseline: Record<string, number>, kinds: readonly string[] = ['UDPWrap', 'Timeout']): Promise<void> {
  const leaked = (): string[] => kinds.filter(k => (handleCounts()[k] ?? 0) > (baseline[k] ?? 0))
  for (let turn = 0; turn < 50 && leaked().length > 0; turn++) await settleHandles(1)
  assert.deepEqual(leaked(), [], `leaked handles: ${JSON.stringify(handleCounts())} (baseline ${JSON.stringify(baseline)})`)
}
