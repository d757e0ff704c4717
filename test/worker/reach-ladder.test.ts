/**
 * The ladder state machine with scripted capabilities (a seam: the real ones run in the NAT lab,
 * test/lab/ladder.test.ts): down moves at once with the lower rung published before the higher
 * is released, up moves only after two spaced verifications and never twice within the
 * cooldown, a directory refusal takes the next rung, and a supervised ladder gives up.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { silentLogger } from '../../src/log.ts'
import type { ReachCapabilities } from '../../src/reach/capabilities.ts'
import { Ladder, type LadderTimings, type Transition } from '../../worker/reach/ladder.ts'
import type { RungContext } from '../../worker/reach/rungs.ts'
import { holdEventLoop } from '../helpers/event-loop.ts'

interface World { igd: boolean, relayUp: boolean, relays: number, events: string[] }

function fakeContext (w: World, ladder: () => Ladder | undefined): RungContext {
  const caps: ReachCapabilities = {
    localAddresses: () => ({ ipv4: [], ipv6: [] }),
    verify: async () => await Promise.resolve(w.igd ? { reachable: true, observedAddress: '198.51.100.1', error: null } : { reachable: false, observedAddress: '198.51.100.1', error: 'timeout' }),
    mapPort: async r => {
      await Promise.resolve()
      if (!w.igd) throw new Error('no IGD')
      w.events.push('map')
      return { kind: 'upnp-igd', externalIp: '198.51.100.1', externalPort: r.internalPort, leaseSeconds: 60, renewals: 0, expiresAt: undefined, close: async () => { await Promise.resolve(); w.events.push('unmap') } }
    }
  }
  return {
    caps,
    front: { port: 9484, awaitGreeting: async () => await new Promise<string>(() => {}) },
    reflectors: () => ['http://198.51.100.9:9484'],
    verifyTimeoutMs: 100,
    mapTimeoutMs: 100,
    leaseSeconds: 60,
    trigger: reason => { ladder()?.trigger(reason) },
    relays: async () => await Promise.resolve(Array.from({ length: w.relays }, (_, i) => ({ host: `r${i}`, port: 9485 }))),
    bindRelay: async c => {
      await Promise.resolve()
      w.events.push(`bind ${c.host}`)
      return { endpoint: `http://${c.host}:9484/v1/relay-for/w`, httpUrl: `http://${c.host}:9484`, bound: () => w.relayUp, close: async () => { await Promise.resolve(); w.events.push(`unbind ${c.host}`) } }
    }
  }
}

const FAST: LadderTimings = { recheckMs: 60_000, upProbeMs: 40, upMinSpacingMs: 300, upCooldownMs: 60_000, retryMs: 50, giveUpAfterMs: 60_000, addressPollMs: 60_000 }

function makeLadder (w: World, timings: Partial<LadderTimings>, publish: (rung: string) => string | undefined = () => undefined, supervised = false): Ladder {
  const ref: { ladder?: Ladder } = {}
  const ladder = new Ladder({
    ctx: fakeContext(w, () => ref.ladder),
    timings: { ...FAST, ...timings },
    publish: async a => { await Promise.resolve(); w.events.push(`publish ${a.rung}`); return publish(a.rung) },
    unpublish: () => { w.events.push('unpublish') },
    supervised,
    logger: silentLogger(),
    addressKey: () => ''
  })
  ref.ladder = ladder
  return ladder
}

async function nextChange (l: Ladder): Promise<Transition> {
  return ((await once(l, 'change')) as [Transition])[0]
}

describe('reachability ladder', () => {
  holdEventLoop()

  it('moves down at once (lower published before the higher is released) and up only after two spaced verifications, at most once per cooldown', async () => {
    const w: World = { igd: true, relayUp: true, relays: 1, events: [] }
    const l = makeLadder(w, {})
    try {
      await l.start()
      assert.equal(l.current?.rung, 'upnp_mapped')
      w.igd = false
      w.events.length = 0
      const down = nextChange(l)
      l.trigger('lease renewal failed')
      assert.deepEqual(await down, { ...(await down), from: 'upnp_mapped', to: 'relay' })
      assert.ok(w.events.indexOf('publish relay') < w.events.indexOf('unmap'), w.events.join(', '))
      w.igd = true
      const healedAt = performance.now()
      const up = await nextChange(l)
      const waited = performance.now() - healedAt
      assert.equal(up.to, 'upnp_mapped')
      assert.ok(waited >= 300, `moved up after ${Math.round(waited)} ms, before the 300 ms spacing`)
      assert.ok(w.events.indexOf('unbind r0') > w.events.lastIndexOf('publish upnp_mapped'))
      // Down again, then healthy again: the cooldown (60 s) forbids a second up move.
      w.igd = false
      const down2 = nextChange(l)
      l.trigger('reflector no longer reaches')
      assert.equal((await down2).to, 'relay')
      w.igd = true
      await new Promise(resolve => setTimeout(resolve, 800))
      assert.equal(l.current?.rung, 'relay')
    } finally {
      await l.stop()
    }
  })

  it('a directory refusal (IICP-E035) on a rung takes the next rung and releases the refused one', async () => {
    const w: World = { igd: true, relayUp: true, relays: 1, events: [] }
    const lines: string[] = []
    const l = makeLadder(w, {}, rung => rung === 'upnp_mapped' ? 'IICP-E035 endpoint not routable' : undefined)
    l.on('line', x => lines.push(`${x.ok ? '✓' : '✗'} ${x.text}`))
    try {
      await l.start()
      assert.equal(l.current?.rung, 'relay')
      assert.deepEqual(w.events, ['map', 'publish upnp_mapped', 'unmap', 'bind r0', 'publish relay'])
      assert.ok(lines.includes('✗ upnp_mapped refused by the directory: IICP-E035 endpoint not routable'), lines.join('\n'))
    } finally {
      await l.stop()
    }
  })

  it('supervised: emits give-up when no rung has worked for giveUpAfterMs', async () => {
    const w: World = { igd: false, relayUp: false, relays: 0, events: [] }
    const l = makeLadder(w, { giveUpAfterMs: 300, retryMs: 100 }, undefined, true)
    try {
      const started = performance.now()
      const gaveUp = once(l, 'give-up')
      await l.start()
      assert.equal(l.current, undefined)
      await gaveUp
      assert.ok(performance.now() - started >= 300)
    } finally {
      await l.stop()
    }
  })
})
