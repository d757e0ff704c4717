/**
 * NAT-PMP client against a loopback responder (never the real default gateway).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { discoverGateways, mapPort } from '../../nat/index.ts'
import { createNatPmpGateway } from '../../nat/portmap/natpmp.ts'
import { startFakeNatPmp } from '../helpers/nat-fake-natpmp.ts'

describe('NAT-PMP client (loopback responder)', () => {
  it('reads the external address and maps, renews and deletes a port', async () => {
    const pmp = await startFakeNatPmp({ externalIp: '203.0.113.9' })
    try {
      const gw = createNatPmpGateway({ address: '127.0.0.1', port: pmp.port, timeoutMs: 1000 })
      assert.equal(await gw.externalIp(), '203.0.113.9')
      const m = await mapPort({ gateway: gw, internalHost: '127.0.0.1', internalPort: 9484, leaseSeconds: 120 })
      assert.equal(m.externalPort, 9484)
      assert.equal(m.leaseSeconds, 120)
      assert.equal(m.gateway.protocol, 'nat-pmp')
      assert.deepEqual(pmp.mappings.get('2/9484'), { externalPort: 9484, lifetime: 120 })
      await m.renew()
      assert.equal(await m.close(), undefined)
      assert.equal(pmp.mappings.size, 0)
    } finally {
      await pmp.close()
    }
  })

  it('retransmits on the RFC schedule when the first request is lost', async () => {
    const pmp = await startFakeNatPmp({ dropFirst: 1 })
    try {
      const gw = createNatPmpGateway({ address: '127.0.0.1', port: pmp.port, timeoutMs: 2000 })
      assert.equal(await gw.externalIp(), '203.0.113.9')
      assert.equal(pmp.requests.length, 2)
      const gap = (pmp.requests[1]?.at ?? 0) - (pmp.requests[0]?.at ?? 0)
      assert.ok(gap >= 200 && gap < 1000, `retransmitted after ${gap} ms`)
    } finally {
      await pmp.close()
    }
  })

  it('maps a 0 lease request to the RFC lifetime instead of deleting', async () => {
    const pmp = await startFakeNatPmp()
    try {
      const gw = createNatPmpGateway({ address: '127.0.0.1', port: pmp.port })
      const grant = await gw.addPortMapping({ internalHost: '127.0.0.1', internalPort: 5000, externalPort: 5000, protocol: 'udp', leaseSeconds: 0, description: '' })
      assert.equal(grant.leaseSeconds, 3600) // the responder caps 7200 at 3600
      assert.equal(pmp.mappings.has('1/5000'), true)
    } finally {
      await pmp.close()
    }
  })

  it('turns result codes into ERR_PORTMAP_FAILED and silence into a timeout', async () => {
    const refusing = await startFakeNatPmp({ resultCode: 2 })
    const silent = await startFakeNatPmp({ silent: true })
    try {
      const gw = createNatPmpGateway({ address: '127.0.0.1', port: refusing.port })
      await assert.rejects(gw.externalIp(), (err: unknown) => (err as { code?: string }).code === 'ERR_PORTMAP_FAILED' && /not authorized/.test((err as Error).message))
      const quiet = createNatPmpGateway({ address: '127.0.0.1', port: silent.port, timeoutMs: 300 })
      const started = Date.now()
      await assert.rejects(quiet.externalIp(), (err: unknown) => (err as { code?: string }).code === 'ERR_PORTMAP_UNAVAILABLE')
      assert.ok(Date.now() - started < 1500)
      const ctrl = new AbortController()
      const p = quiet.externalIp({ signal: ctrl.signal })
      ctrl.abort()
      await assert.rejects(p, (err: unknown) => (err as { code?: string }).code === 'ERR_ABORTED')
      assert.throws(() => createNatPmpGateway({ address: '::1' }), /IPv4/)
    } finally {
      await refusing.close()
      await silent.close()
    }
  })

  it('discovery records a gateway that says it has no public address (result 3)', async () => {
    const pmp = await startFakeNatPmp({ resultCode: 3 })
    try {
      const found = await discoverGateways({ gateways: ['127.0.0.1'], natPmpPort: pmp.port, upnp: false, timeoutMs: 1000 })
      assert.equal(found.natPmp, undefined)
      assert.deepEqual(found.natPmpRefusal, { gateway: '127.0.0.1', resultCode: 3 })
      assert.match(found.errors.natpmp ?? '', /network failure/)
    } finally {
      await pmp.close()
    }
  })

  it('is found by discovery at an explicit gateway address', async () => {
    const pmp = await startFakeNatPmp({ externalIp: '198.51.100.1' })
    try {
      const found = await discoverGateways({ gateways: ['127.0.0.1'], natPmpPort: pmp.port, upnp: false, timeoutMs: 1000 })
      assert.equal(found.natPmp?.externalIp, '198.51.100.1')
      assert.equal(found.upnp, undefined)
    } finally {
      await pmp.close()
    }
  })
})
