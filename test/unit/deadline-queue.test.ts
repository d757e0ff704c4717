/** Deadlines behind one timer (src/deadline-queue.ts): relay calls and worker tasks. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { DeadlineQueue } from '../../src/deadline-queue.ts'
import { holdEventLoop } from '../helpers/event-loop.ts'

/** A deadline whose expiry can be awaited, with the time it fired at. */
function watch (q: DeadlineQueue, timeoutMs: number, log: string[], name: string): { deadline: ReturnType<DeadlineQueue['add']>, fired: Promise<number> } {
  let resolve!: (at: number) => void
  const fired = new Promise<number>(r => { resolve = r })
  const deadline = q.add(timeoutMs, () => { log.push(name); resolve(performance.now()) })
  return { deadline, fired }
}

describe('DeadlineQueue', () => {
  holdEventLoop()

  it('expires each deadline once, not before it, in deadline order across timeout values', async () => {
    const q = new DeadlineQueue()
    const log: string[] = []
    const long = watch(q, 80, log, 'long')
    const short = watch(q, 20, log, 'short')
    const middle = watch(q, 40, log, 'middle')
    const [s, m, l] = await Promise.all([short.fired, middle.fired, long.fired])
    assert.deepEqual(log, ['short', 'middle', 'long'])
    assert.ok(s >= short.deadline.at && m >= middle.deadline.at && l >= long.deadline.at)
  })

  it('never fires a removed deadline; removing twice, or after expiry, does nothing', async () => {
    const q = new DeadlineQueue()
    const log: string[] = []
    const gone = watch(q, 10, log, 'gone')
    const kept = watch(q, 30, log, 'kept')
    const later = watch(q, 30, log, 'later')
    q.remove(gone.deadline)
    q.remove(gone.deadline)
    q.remove(later.deadline)
    await kept.fired
    q.remove(kept.deadline)
    // Emptied by removals, it takes and fires a new deadline.
    const quick = watch(q, 5, log, 'quick')
    q.remove(watch(q, 5, log, 'dropped').deadline)
    await quick.fired
    assert.deepEqual(log, ['kept', 'quick'])
  })

  it('takes new deadlines from an expiry callback, and after it ran empty', async () => {
    const q = new DeadlineQueue()
    const log: string[] = []
    const second = new Promise<void>(resolve => {
      q.add(5, () => {
        log.push('first')
        q.add(5, () => { log.push('second'); resolve() })
      })
    })
    await second
    await watch(q, 5, log, 'third').fired
    assert.deepEqual(log, ['first', 'second', 'third'])
  })

  it('arms its timer once for a run of one wait at a time, not once per wait', () => {
    const q = new DeadlineQueue()
    const realSetTimeout = globalThis.setTimeout
    let armed = 0
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => { armed++; return realSetTimeout(...args) }) as typeof setTimeout
    try {
      for (let i = 0; i < 100; i++) q.remove(q.add(60_000, () => { throw new Error('must not expire') }))
    } finally {
      globalThis.setTimeout = realSetTimeout
    }
    assert.equal(armed, 1)
  })

  it('does not keep the process alive', () => {
    const url = new URL('../../src/deadline-queue.ts', import.meta.url).href
    const script = `import { DeadlineQueue } from '${url}'; new DeadlineQueue().add(60_000, () => { process.exitCode = 3 })`
    // Returns (exit code 0) at once: the pending deadline's timer is unref'd.
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 })
  })
})
