/**
 * Direct paths in the NAT lab (lean set; the full pair matrix is `npm run lab:direct`): a worker
 * behind one topology, iicp-connect behind another, real coturn with REST credentials, relays in
 * the lab's internet. Every task must get its own answer in every case. Needs root; skips otherwise.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { LAB_BASE_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import { mintTurnCredential } from '../../relay/turn-credentials.ts'
import { blockUdp, flushRouters, runPair, unblockUdp, startDirectLab, TURN_HOST, TURN_PORT, type DirectLab, type PairResult } from '../ice/direct-lab.ts'

const SKIP = labSkipReason(LAB_BASE_BINARIES)

function report (t: { diagnostic: (m: string) => void }, r: PairResult): void {
  t.diagnostic(`${r.worker} <-> ${r.consumer} turn=${String(r.turn)}: path=${r.path} t->path=${String(r.timeToDirectMs)} ms pair=${r.pair} tasks=${r.answered}/${r.sent} paths=${JSON.stringify(r.paths)} fallbacks=${r.fallbacks} retried=${String(r.status.retried_tasks)} rebind_waits=${String(r.status.rebind_waits)}`)
}

describe('NAT lab: direct paths', { skip: SKIP ?? false, concurrency: 2 }, () => {
  let dl: DirectLab | undefined
  before(async () => { dl = await startDirectLab() })
  after(async () => { await dl?.close() })

  it('full cone <-> port restricted goes direct, every task answered', async t => {
    assert.ok(dl !== undefined)
    const r = await runPair(dl, 'full-cone', 'port-restricted', { turn: true, untilUpgradedMs: 10_000, concurrency: 2 })
    report(t, r)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
    assert.equal(r.path, 'direct')
  })

  it('symmetric <-> symmetric without TURN stays on the relay, every task answered', async t => {
    assert.ok(dl !== undefined)
    const r = await runPair(dl, 'symmetric', 'symmetric', { turn: false, seconds: 4, concurrency: 2 })
    report(t, r)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
    assert.equal(r.path, 'relay')
    assert.ok(r.answered > 0)
  })

  it('symmetric <-> symmetric with TURN goes through TURN, every task answered', async t => {
    assert.ok(dl !== undefined)
    const r = await runPair(dl, 'symmetric', 'symmetric', { turn: true, untilUpgradedMs: 12_000, concurrency: 2 })
    report(t, r)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
    assert.equal(r.path, 'turn')
  })

  it('conntrack -F in the consumer\'s router, then UDP cut mid-load: tasks fall back to the relay within 5 s, none lost, the direct path comes back', async t => {
    assert.ok(dl !== undefined)
    let lostAfterMs = -1
    const r = await runPair(dl, 'full-cone', 'symmetric', {
      turn: false,
      seconds: 16,
      concurrency: 2,
      during: async ({ consumer, connect }) => {
        await connect.waitFor(/direct path open/, 10_000)
        // A full flush of the consumer's fully-random NAT: every UDP and TCP flow through it (the
        // ICE path, the keep-alive connections to the relay) gets a new mapping on its next packet.
        await flushRouters(consumer)
        const mark = connect.mark()
        // Then the path stops answering altogether: abandoned within 5 s, tasks go back to the relay.
        const cutAt = performance.now()
        await blockUdp(consumer)
        await connect.waitFor(/direct path lost/, 6_000, mark)
        lostAfterMs = performance.now() - cutAt
        await unblockUdp(consumer)
        await connect.waitFor(/direct path open/, 10_000, mark)
      }
    })
    t.diagnostic(`path abandoned ${Math.round(lostAfterMs)} ms after the UDP cut`)
    report(t, r)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
    assert.ok(r.fallbacks >= 1, 'the flushed path was abandoned')
    assert.equal(r.path, 'direct')
    assert.ok((r.paths.relay ?? 0) > 0 && (r.paths.direct ?? 0) > 0)
  })

  it('conntrack -F in the worker\'s fully random router mid-load: its relay session and the channel die together, every task is answered once, the direct path comes back', async t => {
    assert.ok(dl !== undefined)
    const r = await runPair(dl, 'symmetric', 'full-cone', {
      turn: false,
      seconds: 16,
      concurrency: 2,
      during: async ({ worker, connect }) => {
        await connect.waitFor(/direct path open/, 10_000)
        // Every mapping of the worker's NAT is new on its next packet: the relay's frames meet a
        // router that no longer knows the session (reset), and the channel's packets leave from
        // another port. Tasks wait in the consumer for the worker's re-bind (404 IICP-E030 retried).
        await flushRouters(worker)
      }
    })
    report(t, r)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
    assert.equal(r.answered, r.sent)
    assert.equal(r.path, 'direct', 'the direct path is back by the end of the run')
  })

  it('conntrack -F in the worker\'s router while the channel is idle: the path stays up (the worker pings when its consumer goes quiet)', async t => {
    assert.ok(dl !== undefined)
    let quietLine = ''
    // The driver stops at the upgrade: afterwards only the consumer's keepalive PINGs cross the channel.
    const r = await runPair(dl, 'port-restricted', 'full-cone', {
      turn: false,
      untilUpgradedMs: 10_000,
      concurrency: 1,
      during: async ({ worker, connect, workerProcess, driver }) => {
        await connect.waitFor(/direct path open/, 10_000)
        // No task in flight on either path any more: nothing the worker must answer.
        await driver.exited
        const mark = connect.mark()
        const workerMark = workerProcess.mark()
        // The worker's NAT forgets the channel's mapping: the consumer's PINGs are refused there,
        // and a worker with nothing to answer would stay silent until the consumer gives up (3.5 s).
        await flushRouters(worker)
        // Usually the worker goes quiet and its PING restores the mapping. Other outbound traffic
        // of the worker (its ICE agent's keepalives) leaving in the first second after the flush
        // restores it before the worker has been quiet for 1.5 s; either way the consumer's PINGs
        // get through again.
        quietLine = await workerProcess.waitFor(/[^\n]*direct peer quiet[^\n]*/, 5_000, workerMark).then(m => m[0], () => '')
        // No loss within two of the consumer's dead deadlines.
        await assert.rejects(connect.waitFor(/direct path lost/, 7_000, mark), /did not print/)
      }
    })
    report(t, r)
    t.diagnostic(quietLine === '' ? 'worker: not quiet within 5 s (its other outbound traffic restored the mapping first)' : `worker: ${quietLine.slice(-110)}`)
    assert.equal(r.wrong, 0, r.errors.join(' | '))
  })

  it('TURN credentials from the relay work and are refused by coturn once expired', async () => {
    assert.ok(dl !== undefined)
    const lab = dl.lab
    const topo = await lab.addTopology('port-restricted')
    try {
      const gather = async (ttlSeconds: number): Promise<number> => {
        const c = mintTurnCredential(dl?.turnSecret ?? '', 'expiry-check', ttlSeconds)
        const p = lab.startNode('turn-gather', topo.clientNs, '../ice/bin/turn-gather.ts', [`turn:${TURN_HOST}:${TURN_PORT}`, c.username, c.credential])
        const line = await p.waitFor(/^\{.*\}$/m, 15_000)
        return (JSON.parse(line[0]) as { relay: number }).relay
      }
      assert.equal(await gather(600), 1)
      // Expired one second ago: coturn refuses the REST username.
      assert.equal(await gather(-1), 0)
    } finally {
      await lab.removeTopology(topo)
    }
  })
})
