/**
 * The worker's relay list: a random order per worker, one step per attempt, never the same
 * relay twice in a row when there is a choice, names expanded to all their addresses, and an
 * even spread of many workers over the relays that are left.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseRelayList, relayListFromFlag, RelayList } from '../../worker/relay-list.ts'

describe('worker relay list', () => {
  it('parses host:port lists with a default port and IPv6 in brackets', () => {
    assert.deepEqual(parseRelayList('a.example:1, b.example,[2001:db8::1]:3', 9485), [
      { host: 'a.example', port: 1 }, { host: 'b.example', port: 9485 }, { host: '2001:db8::1', port: 3 }
    ])
    assert.throws(() => parseRelayList('a:1,b:99999', 9485), { code: 'ERR_INVALID_ADDRESS' })
    assert.equal(relayListFromFlag('a:1', 9485, false), undefined, 'one relay is dialled as before')
    assert.deepEqual(relayListFromFlag('a:1', 9485, true), [{ host: 'a', port: 1 }])
  })

  it('visits every relay once per round, in a random order, never the same one twice in a row', async () => {
    const list = new RelayList([{ host: '10.0.0.1', port: 1 }, { host: '10.0.0.2', port: 1 }, { host: '10.0.0.3', port: 1 }])
    const picks: string[] = []
    for (let i = 0; i < 30; i++) picks.push((await list.next()).host)
    for (let round = 0; round < 10; round++) assert.equal(new Set(picks.slice(round * 3, round * 3 + 3)).size, 3)
    for (let i = 1; i < picks.length; i++) assert.notEqual(picks[i], picks[i - 1])
  })

  it('a name with several addresses is spread over them and keeps its name for the endpoint', async () => {
    const list = new RelayList([{ host: 'fleet.example', port: 9485 }], { resolve: async () => await Promise.resolve(['192.0.2.1', '192.0.2.2']) })
    const a = await list.next()
    const b = await list.next()
    assert.deepEqual([a.name, b.name], ['fleet.example', 'fleet.example'])
    assert.deepEqual([a.host, b.host].sort(), ['192.0.2.1', '192.0.2.2'])
    const single = new RelayList([{ host: 'one.example', port: 9485 }], { resolve: async () => await Promise.resolve(['192.0.2.9']) })
    assert.equal((await single.next()).host, 'one.example', 'a single address is dialled by name')
  })

  it('the workers of a dead relay spread over the survivors', async () => {
    const relays = [{ host: '10.0.0.1', port: 1 }, { host: '10.0.0.2', port: 1 }, { host: '10.0.0.3', port: 1 }]
    const next = new Map<string, number>()
    let onDead = 0
    for (let w = 0; w < 3000; w++) {
      const list = new RelayList(relays)
      const first = await list.next()
      if (first.host !== '10.0.0.1') continue
      onDead++
      const failover = (await list.next()).host
      next.set(failover, (next.get(failover) ?? 0) + 1)
    }
    const shares = [...next.values()].map(n => n / onDead)
    assert.equal(shares.length, 2)
    for (const s of shares) assert.ok(s > 0.4 && s < 0.6, `uneven failover shares ${shares.join(', ')}`)
  })
})
