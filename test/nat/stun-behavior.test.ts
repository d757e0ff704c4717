import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { createStunServer, discoverNatBehavior, type NatBehaviorResult, type StunServerAddress } from '../../nat/stun/index.ts'
import { classifyFiltering, classifyMappingAcrossServers, classifyMappingRfc5780 } from '../../nat/stun/behavior-classify.ts'
import { startFakeStunServer, type FakeStunServer, type FakeStunServerOptions, type SimulatedBehavior } from '../helpers/stun-fake-server.ts'
import { assertNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'
import { disposeAfter } from '../helpers/dispose.ts'

const host = (a: { address: string, port: number }): StunServerAddress => ({ host: a.address, port: a.port })

async function withFakes<T> (list: FakeStunServerOptions[], fn: (servers: FakeStunServer[]) => Promise<T>): Promise<T> {
  const servers: FakeStunServer[] = []
  try {
    for (const options of list) servers.push(await startFakeStunServer(options))
    return await fn(servers)
  } finally {
    await Promise.all(servers.map(async s => { await s.close() }))
  }
}

let baseline: Record<string, number>
before(() => { baseline = handleCounts() })
after(async () => { await assertNoLeakedHandles(baseline) })

describe('NAT behaviour discovery against our server on 127.0.0.2 + 127.0.0.3 (no NAT on loopback)', () => {
  it('reports no NAT, endpoint-independent filtering, hairpinning and port preservation via RFC 5780', async t => {
    const server = disposeAfter(t, createStunServer({ primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.3', port: 0 } }))
    const info = await server.listen()
    for (const localAddress of ['127.0.0.1', undefined]) {
      const startedAt = performance.now()
      const result = await discoverNatBehavior({ servers: [host(info.primary)], ...(localAddress === undefined ? {} : { localAddress }) })
      assert.ok(performance.now() - startedAt < 1000, 'loopback discovery is fast')
      assert.equal(result.udpBlocked, false)
      assert.equal(result.method, 'rfc5780')
      assert.equal(result.mapping, 'none')
      assert.equal(result.filtering, 'endpoint_independent')
      assert.equal(result.hairpinning, true)
      assert.equal(result.portPreserving, true)
      assert.deepEqual(result.otherAddress, info.alternate)
      assert.deepEqual(result.mapped, { address: '127.0.0.1', port: result.local?.port })
      assert.equal(result.servers[0]?.responded, true)
      assert.equal(result.servers[0]?.otherAddress, `127.0.0.3:${info.alternate?.port}`)
      assert.ok(result.notes.some(n => n.includes('no NAT')))
    }
  })

  it('compares two plain servers when there is no OTHER-ADDRESS', async t => {
    const a = disposeAfter(t, createStunServer({ primary: { address: '127.0.0.2', port: 0 } }))
    const b = disposeAfter(t, createStunServer({ primary: { address: '127.0.0.3', port: 0 } }))
    const [ia, ib] = [await a.listen(), await b.listen()]
    const result = await discoverNatBehavior({ servers: [host(ia.primary), host(ib.primary)], localAddress: '127.0.0.1' })
    assert.equal(result.method, 'two_servers')
    assert.equal(result.mapping, 'none')
    assert.equal(result.filtering, 'unknown')
    assert.ok(result.notes.some(n => n.includes('no OTHER-ADDRESS')), result.notes.join('; '))
    assert.deepEqual(result.servers.map(s => s.responded), [true, true])
  })

  it('works over IPv6 with a single plain server', async t => {
    const server = disposeAfter(t, createStunServer({ primary: { address: '::1', port: 0 } }))
    const info = await server.listen()
    const result = await discoverNatBehavior({ servers: [host(info.primary)], hairpin: false })
    assert.equal(result.mapping, 'none')
    assert.equal(result.method, 'none')
    assert.equal(result.mapped?.address, '::1')
  })
})

describe('NAT behaviour discovery when nothing answers', () => {
  it('reports udpBlocked at 0.6 of the default 2.5 s deadline (no server answered three sends) and does not throw', async () => {
    await withFakes([{ primary: '127.0.0.2', silent: true }, { primary: '127.0.0.3', silent: true }], async ([a, b]) => {
      const startedAt = performance.now()
      const result = await discoverNatBehavior({ servers: [host(a!.primary), host(b!.primary)] })
      const elapsed = performance.now() - startedAt
      assert.ok(elapsed >= 1400 && elapsed < 2400, `took ${elapsed} ms`)
      assert.equal(result.udpBlocked, true)
      assert.equal(result.mapping, 'unknown')
      assert.equal(result.filtering, 'unknown')
      assert.equal(result.method, 'none')
      assert.equal(result.hairpinning, undefined)
      assert.deepEqual(result.servers.map(s => s.responded), [false, false])
      assert.match(result.servers[0]?.error ?? '', /ERR_STUN_TIMEOUT/)
    })
  })

  it('error responses are answers: not udpBlocked, behaviour unknown', async () => {
    await withFakes([{ primary: '127.0.0.2', alternate: '127.0.0.3', errorCode: 500 }], async ([s]) => {
      const result = await discoverNatBehavior({ servers: [host(s!.primary)], timeoutMs: 500, rtoMs: 50 })
      assert.equal(result.udpBlocked, false)
      assert.equal(result.mapping, 'unknown')
      assert.equal(result.servers[0]?.responded, true)
      assert.match(result.servers[0]?.error ?? '', /ERR_STUN_ERROR_RESPONSE/)
    })
  })

  it('an AbortSignal rejects with ERR_ABORTED at once', async () => {
    const ctrl = new AbortController()
    await withFakes([{ primary: '127.0.0.2', silent: true, onRequest: () => { ctrl.abort() } }], async ([s]) => {
      const startedAt = performance.now()
      await assert.rejects(discoverNatBehavior({ servers: [host(s!.primary)], signal: ctrl.signal }), (err: unknown) => isToolkitError(err, ErrorCode.Aborted))
      assert.ok(performance.now() - startedAt < 1000)
    })
  })

  it('validates options: IP literals only, at least one server of the family', async () => {
    await assert.rejects(discoverNatBehavior({ servers: [{ host: 'stun.example.com', port: 3478 }] }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidAddress))
    await assert.rejects(discoverNatBehavior({ servers: [] }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    await assert.rejects(discoverNatBehavior({ servers: [{ host: '::1', port: 3478 }], family: 4 }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    await assert.rejects(discoverNatBehavior({ servers: [{ host: '127.0.0.2', port: 3478 }], localAddress: '::1' }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidAddress))
  })
})

describe('NAT behaviour discovery against a simulated NAT (test server switches)', { concurrency: true }, () => {
  const rfc5780Cases: Array<{ name: string, fake: Partial<FakeStunServerOptions>, mapping: string, filtering: string }> = [
    { name: 'full cone (EIM + EIF)', fake: { mapping: 'endpoint_independent', filtering: 'endpoint_independent' }, mapping: 'endpoint_independent', filtering: 'endpoint_independent' },
    { name: 'restricted cone (EIM + ADF)', fake: { mapping: 'endpoint_independent', filtering: 'address_dependent' }, mapping: 'endpoint_independent', filtering: 'address_dependent' },
    { name: 'port restricted, like masquerade (EIM + APDF)', fake: { mapping: 'endpoint_independent', filtering: 'address_and_port_dependent' }, mapping: 'endpoint_independent', filtering: 'address_and_port_dependent' },
    { name: 'symmetric, like fully-random (APDM + APDF)', fake: { mapping: 'address_and_port_dependent', filtering: 'address_and_port_dependent' }, mapping: 'address_and_port_dependent', filtering: 'address_and_port_dependent' },
    { name: 'address-dependent mapping (ADM + EIF)', fake: { mapping: 'address_dependent', filtering: 'endpoint_independent' }, mapping: 'address_dependent', filtering: 'endpoint_independent' },
    { name: 'seen-address filter keyed by host (spec §8.3): filtering tests run before anything reaches the alternate IP', fake: { mapping: 'endpoint_independent', filtering: 'address_dependent', filterScope: 'host' }, mapping: 'endpoint_independent', filtering: 'address_dependent' }
  ]
  for (const c of rfc5780Cases) {
    it(`RFC 5780: ${c.name}`, async () => {
      await withFakes([{ primary: '127.0.0.2', alternate: '127.0.0.3', ...c.fake }], async ([s]) => {
        const result: NatBehaviorResult = await discoverNatBehavior({ servers: [host(s!.primary)], localAddress: '127.0.0.1', timeoutMs: 1000, rtoMs: 100, hairpin: false })
        assert.equal(result.method, 'rfc5780')
        assert.equal(result.mapping, c.mapping, result.notes.join('; '))
        assert.equal(result.filtering, c.filtering, result.notes.join('; '))
        assert.equal(result.portPreserving, false)
        assert.equal(result.mapped?.address, '127.0.0.4')
      })
    })
  }

  it('hairpinning is false when nothing at the reflexive address loops back', async () => {
    await withFakes([{ primary: '127.0.0.2', alternate: '127.0.0.3', mapping: 'endpoint_independent' }], async ([s]) => {
      const result = await discoverNatBehavior({ servers: [host(s!.primary)], localAddress: '127.0.0.1', timeoutMs: 600, rtoMs: 50 })
      assert.equal(result.hairpinning, false)
      assert.equal(result.mapping, 'endpoint_independent')
    })
  })

  const twoServerCases: Array<{ name: string, mapping: SimulatedBehavior, ips: string[], expect: string, note?: RegExp }> = [
    { name: 'equal mapped addresses: endpoint-independent', mapping: 'endpoint_independent', ips: ['127.0.0.2', '127.0.0.3'], expect: 'endpoint_independent' },
    { name: 'two ports on one IP differ: address-and-port-dependent', mapping: 'address_and_port_dependent', ips: ['127.0.0.2', '127.0.0.2'], expect: 'address_and_port_dependent' },
    { name: 'same on one IP, different across IPs: address-dependent', mapping: 'address_dependent', ips: ['127.0.0.2', '127.0.0.2', '127.0.0.3'], expect: 'address_dependent' },
    { name: 'different across IPs only: at least address-dependent, with a note', mapping: 'address_and_port_dependent', ips: ['127.0.0.2', '127.0.0.3'], expect: 'address_dependent', note: /at least address-dependent/ }
  ]
  for (const c of twoServerCases) {
    it(`two servers: ${c.name}`, async () => {
      await withFakes(c.ips.map(ip => ({ primary: ip, mapping: c.mapping })), async (servers) => {
        const result = await discoverNatBehavior({ servers: servers.map(s => host(s.primary)), localAddress: '127.0.0.1', timeoutMs: 800, rtoMs: 100, hairpin: false })
        assert.equal(result.method, 'two_servers')
        assert.equal(result.mapping, c.expect, result.notes.join('; '))
        assert.equal(result.filtering, 'unknown')
        if (c.note !== undefined) assert.ok(result.notes.some(n => c.note?.test(n) === true), result.notes.join('; '))
      })
    })
  }
})

describe('NAT behaviour classification rules (pure)', () => {
  const a = (address: string, port: number): { address: string, port: number } => ({ address, port })
  it('RFC 5780 mapping', () => {
    assert.equal(classifyMappingRfc5780(a('1.1.1.1', 1), a('1.1.1.1', 1), undefined).behavior, 'endpoint_independent')
    assert.equal(classifyMappingRfc5780(a('1.1.1.1', 1), a('1.1.1.1', 2), a('1.1.1.1', 2)).behavior, 'address_dependent')
    assert.equal(classifyMappingRfc5780(a('1.1.1.1', 1), a('1.1.1.1', 2), a('1.1.1.1', 3)).behavior, 'address_and_port_dependent')
    assert.equal(classifyMappingRfc5780(a('1.1.1.1', 1), undefined, undefined).behavior, 'unknown')
    assert.equal(classifyMappingRfc5780(a('1.1.1.1', 1), undefined, a('1.1.1.1', 1)).behavior, 'endpoint_independent')
  })
  it('RFC 5780 filtering, including a server that ignores CHANGE-REQUEST', () => {
    const server = a('9.9.9.1', 3478)
    assert.equal(classifyFiltering(server, { kind: 'answered', source: a('9.9.9.2', 3479) }, { kind: 'silent' }).behavior, 'endpoint_independent')
    assert.equal(classifyFiltering(server, { kind: 'silent' }, { kind: 'answered', source: a('9.9.9.1', 3479) }).behavior, 'address_dependent')
    assert.equal(classifyFiltering(server, { kind: 'silent' }, { kind: 'silent' }).behavior, 'address_and_port_dependent')
    assert.equal(classifyFiltering(server, { kind: 'answered', source: server }, { kind: 'silent' }).behavior, 'unknown')
    assert.equal(classifyFiltering(server, { kind: 'error', message: '420' }, { kind: 'silent' }).behavior, 'unknown')
  })
  it('two-server comparison needs two answers', () => {
    assert.equal(classifyMappingAcrossServers([{ server: a('1.1.1.1', 1), mapped: a('2.2.2.2', 1) }]).behavior, 'unknown')
  })
})
