/** Handle-leak checks for the STUN tests: UDP sockets and referenced timers must not outlive a suite. */
import assert from 'node:assert/strict'

/** Counts of process.getActiveResourcesInfo() by kind. */
export function handleCounts (): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
  return counts
}

/**
 * Asserts that no more UDP sockets or referenced timers are active than in `baseline`. libuv
 * releases a closed handle a few loop turns after its 'close' event, so this yields to the event
 * loop (bounded: at most 50 turns) before failing.
 */
export async function assertNoLeakedHandles (baseline: Record<string, number>, kinds: readonly string[] = ['UDPWrap', 'Timeout']): Promise<void> {
  const leaked = (): string[] => kinds.filter(k => (handleCounts()[k] ?? 0) > (baseline[k] ?? 0))
  for (let turn = 0; turn < 50 && leaked().length > 0; turn++) await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(leaked(), [], `leaked handles: ${JSON.stringify(handleCounts())} (baseline ${JSON.stringify(baseline)})`)
}
