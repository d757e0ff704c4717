/**
 * Port-mapping lifecycle against an injected fake gateway: renewal before expiry with short
 * leases, retry after a failed renewal, delete on close (or keep), pinholes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mapPort, openPinhole } from '../../nat/index.ts'
import { createLeaseKeeper } from '../../nat/portmap/lease-keeper.ts'
import { createFakeGateway } from '../helpers/nat-fake-gateway.ts'
import { holdEventLoop } from '../helpers/event-loop.ts'

describe('lease keeper', () => {
  holdEventLoop()

  it('renews at the lease fraction, before expiry, repeatedly', async () => {
    const renewedAt: number[] = []
    const started = Date.now()
    let resolveThird: () => void = () => undefined
    const third = new Promise<void>(resolve => { resolveThird = resolve })
    const keeper = createLeaseKeeper({
      leaseSeconds: 0.4,
      minRenewIntervalMs: 20,
      renew: () => {
        renewedAt.push(Date.now())
        if (renewedAt.length === 3) resolveThird()
        return Promise.resolve(0.4)
      },
      remove: () => Promise.resolve()
    })
    await third
    await keeper.close()
    assert.equal(keeper.renewals >= 3, true)
    // Each renewal lands before the previous lease (400 ms) ran out.
    let last = started
    for (const t of renewedAt) {
      assert.ok(t - last < 400, `renewed after ${t - last} ms`)
      last = t
    }
  })

  it('retries sooner after a failed renewal and reports each attempt', async () => {
    const results: boolean[] = []
    let calls = 0
    let done: () => void = () => undefined
    const recovered = new Promise<void>(resolve => { done = resolve })
    const keeper = createLeaseKeeper({
      leaseSeconds: 0.4,
      minRenewIntervalMs: 10,
      renew: () => {
        calls++
        return calls === 1 ? Promise.reject(new Error('router busy')) : Promise.resolve(0.4)
      },
      remove: () => Promise.resolve(),
      onRenew: r => {
        results.push(r.ok)
        if (r.ok) done()
      }
    })
    await recovered
    await keeper.close()
    assert.deepEqual(results.slice(0, 2), [false, true])
  })

  it('close() removes once (idempotent), stops renewing, and returns the removal error', async () => {
    let removed = 0
    let renewed = 0
    const keeper = createLeaseKeeper({ leaseSeconds: 0.05, minRenewIntervalMs: 10, renew: () => { renewed++; return Promise.resolve(0.05) }, remove: () => { removed++; return Promise.resolve() } })
    const [a, b] = await Promise.all([keeper.close(), keeper.close()])
    assert.equal(a, undefined)
    assert.equal(b, undefined)
    assert.equal(removed, 1)
    const after = renewed
    await new Promise(resolve => setTimeout(resolve, 60))
    assert.equal(renewed, after)
    assert.equal(keeper.closed, true)

    const failing = createLeaseKeeper({ leaseSeconds: 10, renew: () => Promise.resolve(10), remove: () => Promise.reject(new Error('gone')) })
    const err = await failing.close()
    assert.match(err?.message ?? '', /gone/)
  })

  it('close({ keep: true }) stops renewing without removing; a permanent lease is never renewed', async () => {
    let removed = 0
    const keeper = createLeaseKeeper({ leaseSeconds: 10, renew: () => Promise.resolve(10), remove: () => { removed++; return Promise.resolve() } })
    assert.equal(await keeper.close({ keep: true }), undefined)
    assert.equal(removed, 0)
    const permanent = createLeaseKeeper({ leaseSeconds: 0, renew: () => Promise.reject(new Error('must not renew')), remove: () => Promise.resolve() })
    assert.equal(permanent.expiresAt, undefined)
    await permanent.close()
  })

  it('close() during a renewal aborts it, then removes', async () => {
    let sawAbort = false
    let entered: () => void = () => undefined
    const inRenew = new Promise<void>(resolve => { entered = resolve })
    const keeper = createLeaseKeeper({
      leaseSeconds: 0.02,
      minRenewIntervalMs: 1,
      callTimeoutMs: 5000,
      renew: async signal => {
        entered()
        await new Promise<void>(resolve => { signal.addEventListener('abort', () => { sawAbort = true; resolve() }, { once: true }) })
        throw new Error('aborted')
      },
      remove: () => Promise.resolve()
    })
    await inRenew
    await keeper.close()
    assert.equal(sawAbort, true)
  })
})

describe('mapPort / openPinhole with a fake gateway', () => {
  holdEventLoop()

  it('maps, renews before the lease expires, and deletes on close', async () => {
    const gw = createFakeGateway({ grantLeaseSeconds: 0.5 })
    const m = await mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 9484, leaseSeconds: 60, minRenewIntervalMs: 20 })
    assert.equal(m.externalPort, 9484)
    assert.equal(m.externalIp, '203.0.113.10')
    assert.equal(m.leaseSeconds, 0.5)
    assert.equal(m.gateway.protocol, 'upnp-igd')
    const first = gw.calls.find(c => c.method === 'addPortMapping')
    assert.deepEqual(first?.args[0], { internalHost: '192.168.1.2', internalPort: 9484, externalPort: 9484, protocol: 'tcp', leaseSeconds: 60, description: 'iicp-nat 9484' })
    await gw.waitForCalls('addPortMapping', 3)
    const adds = gw.calls.filter(c => c.method === 'addPortMapping').map(c => c.at)
    for (let i = 1; i < adds.length; i++) assert.ok((adds[i] ?? 0) - (adds[i - 1] ?? 0) < 500, 'renewed before expiry')
    assert.ok(m.renewals >= 1)
    assert.equal(gw.mappings.size, 1)
    assert.equal(await m.close(), undefined)
    assert.equal(gw.mappings.size, 0)
    assert.deepEqual(gw.calls.filter(c => c.method === 'deletePortMapping').map(c => c.args[0]), [{ externalPort: 9484, internalPort: 9484, protocol: 'tcp', internalHost: '192.168.1.2' }])
    const count = gw.calls.length
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(gw.calls.length, count, 'no calls after close')
  })

  it('keeps the mapping with close({ keep: true }) and is async-disposable (what `await using` calls)', async () => {
    const gw = createFakeGateway()
    const m = await mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 4000, externalPort: 4001, protocol: 'udp', leaseSeconds: 600 })
    await m.close({ keep: true })
    assert.equal(gw.mappings.size, 1)
    const m2 = await mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 5000, leaseSeconds: 600 })
    try {
      assert.equal(m2.externalPort, 5000)
      assert.equal(gw.mappings.has('tcp/5000'), true)
    } finally {
      await m2[Symbol.asyncDispose]()
    }
    assert.equal(gw.mappings.has('tcp/5000'), false)
  })

  it('picks the source address toward the gateway when no internal host is given', async () => {
    const gw = createFakeGateway()
    const m = await mapPort({ gateway: gw, internalPort: 7000 })
    assert.equal(m.internalHost, '127.0.0.1')
    await m.close()
  })

  it('fails with the gateway error and leaves nothing behind', async () => {
    const gw = createFakeGateway()
    gw.failing.add('addPortMapping')
    await assert.rejects(mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 9484 }), (err: unknown) => (err as { code?: string }).code === 'ERR_PORTMAP_FAILED')
    assert.equal(gw.mappings.size, 0)
  })

  it('reports a failed delete from close()', async () => {
    const gw = createFakeGateway()
    const m = await mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 9484 })
    gw.failing.add('deletePortMapping')
    const err = await m.close()
    assert.match(err?.message ?? '', /fake deletePortMapping failure/)
  })

  it('opens a pinhole, renews it with UpdatePinhole, deletes it on close', async () => {
    const gw = createFakeGateway({ pinholes: true })
    const p = await openPinhole({ gateway: gw, internalClient: '2A00:12::2', internalPort: 9486, leaseSeconds: 0.2, minRenewIntervalMs: 20 })
    assert.equal(p.uniqueId, 1)
    assert.equal(p.internalClient, '2a00:12::2')
    await gw.waitForCalls('updatePinhole', 2)
    assert.deepEqual(gw.calls.find(c => c.method === 'updatePinhole')?.args, [1, 0.2])
    assert.equal(await p.close(), undefined)
    assert.equal(gw.pinholes.size, 0)
  })

  it('refuses pinholes on a gateway without firewall control or for an IPv4 address', async () => {
    await assert.rejects(openPinhole({ gateway: createFakeGateway(), internalClient: '2a00:12::2', internalPort: 1 }), /no IPv6 firewall control/)
    await assert.rejects(openPinhole({ gateway: createFakeGateway({ pinholes: true }), internalClient: '192.168.1.2', internalPort: 1 }), /needs an IPv6 address/)
  })
})
