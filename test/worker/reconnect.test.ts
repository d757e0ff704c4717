/**
 * Checklist 25 and 30: the back-off sequence (p-retry, mocked timers and Math.random for the
 * exact numbers), the reset after a bound session, cancellation, and N workers returning spread
 * out after a relay restart (real sockets).
 */
import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { syncBuiltinESMExports } from 'node:module'
import { runReconnectLoop } from '../../worker/reconnect.ts'
import { createWorker, type BackoffInfo, type Worker } from '../../worker/index.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { echoHandler, FAST, teardown } from './harness.ts'

/** Lets every pending microtask and I/O callback run (setImmediate is not mocked). */
async function flush (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>(resolve => { setImmediate(resolve) })
}

const refused = (): ToolkitError => new ToolkitError(ErrorCode.ConnectionClosed, 'connect refused')

/**
 * Drives the loop with mocked timers: each `outcomes` entry is one attempt ('fail' or 'bound').
 * Returns the mocked clock at each attempt and the announced delays.
 */
async function drive (t: TestContext, outcomes: Array<'fail' | 'bound'>, random: number): Promise<{ at: number[], delays: BackoffInfo[] }> {
  t.mock.method(Math, 'random', () => random)
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
  // Named imports of node:timers/promises (src/abort.ts sleep) see the mock only after a sync.
  syncBuiltinESMExports()
  try {
    return await runScript(t, outcomes)
  } finally {
    t.mock.timers.reset()
    syncBuiltinESMExports()
  }
}

async function runScript (t: TestContext, outcomes: Array<'fail' | 'bound'>): Promise<{ at: number[], delays: BackoffInfo[] }> {
  const ac = new AbortController()
  const at: number[] = []
  const delays: BackoffInfo[] = []
  const loop = runReconnectLoop(async signal => {
    at.push(Date.now())
    const outcome = outcomes[at.length - 1]
    if (outcome === 'fail') throw refused()
    // Past the script: stay "connecting" until the loop is stopped.
    if (outcome === undefined) {
      await new Promise<void>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(refused()) }, { once: true }) })
    }
  }, { minDelayMs: 2_000, maxDelayMs: 60_000, signal: ac.signal, onBackoff: b => { delays.push(b) } })
  for (let i = 0; i < outcomes.length; i++) {
    await flush()
    const last = delays[delays.length - 1]
    assert.ok(last !== undefined, `no back-off announced after attempt ${i + 1}`)
    t.mock.timers.tick(last.delayMs)
  }
  await flush()
  ac.abort()
  await loop
  return { at, delays }
}

describe('reconnect back-off (checklist 25)', () => {
  it('waits 2, 4, 8, 16, 32, 60, 60 s between failed attempts (random factor 1)', async t => {
    const { at, delays } = await drive(t, ['fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'fail'], 0)
    assert.deepEqual(delays.map(d => d.delayMs), [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000])
    assert.deepEqual(delays.map(d => d.attempt), [1, 2, 3, 4, 5, 6, 7])
    assert.ok(delays.every(d => d.error?.code === ErrorCode.ConnectionClosed))
    assert.deepEqual(at, [0, 2_000, 6_000, 14_000, 30_000, 62_000, 122_000, 182_000])
  })

  it('multiplies each delay by the random factor in [1, 2), still capped at the maximum', async t => {
    const { delays } = await drive(t, ['fail', 'fail', 'fail', 'fail', 'fail', 'fail'], 0.5)
    assert.deepEqual(delays.map(d => d.delayMs), [3_000, 6_000, 12_000, 24_000, 48_000, 60_000])
  })

  it('resets to the minimum after a session that reached bound', async t => {
    const { at, delays } = await drive(t, ['fail', 'fail', 'fail', 'bound', 'fail', 'fail'], 0)
    assert.deepEqual(delays.map(d => [d.attempt, d.delayMs]), [
      [1, 2_000], [2, 4_000], [3, 8_000], [0, 2_000], [1, 2_000], [2, 4_000]
    ])
    assert.equal(delays[3]?.error, undefined)
    assert.deepEqual(at, [0, 2_000, 6_000, 14_000, 16_000, 18_000, 22_000])
  })

  it('ends when the signal fires during a wait, without running another attempt', async t => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const ac = new AbortController()
    let attempts = 0
    const loop = runReconnectLoop(() => { attempts++; return Promise.reject(refused()) }, { minDelayMs: 2_000, maxDelayMs: 60_000, signal: ac.signal, onBackoff: () => {} })
    await flush()
    ac.abort()
    await loop
    t.mock.timers.tick(120_000)
    await flush()
    assert.equal(attempts, 1)
  })
})

describe('relay restart (checklist 30)', () => {
  it('N workers reconnect after the back-off, spread out rather than in lockstep', async t => {
    const N = 8
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    teardown(t, workers, [relay])
    for (let i = 0; i < N; i++) {
      const w = createWorker({ relayHost: relay.host, relayPort: relay.port, workerId: `w-${i}`, handler: echoHandler, ...FAST, reconnect: { minDelayMs: 50, maxDelayMs: 1_000 } })
      workers.push(w)
      await w.start()
    }
    for (let i = 0; i < N; i++) await relay.nextBound()
    await Promise.all(workers.map(async w => await w.whenBound()))
    const delays: number[] = []
    const disconnects: string[] = []
    for (const w of workers) {
      w.on('backoff', b => { delays.push(b.delayMs) })
      w.on('disconnect', d => { disconnects.push(d.reason) })
    }
    const droppedAt = performance.now()
    relay.dropAll()
    const again = []
    for (let i = 0; i < N; i++) again.push(await relay.nextBound())
    assert.equal(disconnects.length, N)
    assert.equal(delays.length, N)
    // Each waited min·random[1,2): 50–100 ms, and the waits differ.
    assert.ok(delays.every(d => d >= 50 && d <= 100), `delays ${delays.join(',')}`)
    assert.ok(Math.max(...delays) - Math.min(...delays) >= 5, `delays in lockstep: ${delays.join(',')}`)
    const arrivals = again.map(c => c.acceptedAt - droppedAt)
    assert.ok(arrivals.every(a => a >= 45), `arrivals ${arrivals.join(',')}`)
    assert.ok(new Set(arrivals.map(a => Math.round(a))).size > 1)
    await Promise.all(workers.map(async w => await w.whenBound()))
  })
})
