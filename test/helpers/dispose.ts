/** Test helper: dispose of a resource when the test ends. */
import type { TestContext } from 'node:test'

/**
 * Returns `resource`, disposed (`Symbol.asyncDispose`) after the test `t` ends: what `await
 * using` does at the end of a block, in a form Node 22 parses.
 */
export function disposeAfter<T extends AsyncDisposable> (t: TestContext, resource: T): T {
  t.after(async () => { await resource[Symbol.asyncDispose]() })
  return resource
}
