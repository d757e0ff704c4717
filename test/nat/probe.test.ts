/**
 * probeNetwork end to end on loopback: our STUN server on 127.0.0.2/127.0.0.3, a loopback
 * reflector, fake gateways at the Gateway seam (or a loopback fake IGD). Interfaces are
 * injected so results do not depend on the host. UPnP is off or aimed at loopback fakes.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { listenTcp } from '../../src/transport/listen.ts'
import type { NetworkInterfaceInfo } from 'node:os'
import { createReflectorServer, probeNetwork, type DiscoveredGateways, type ProbeDeps, type StunServerSpec } from '../../nat/index.ts'
import { createFakeGateway, type FakeGateway } from '../helpers/nat-fake-gateway.ts'
import { startFakeIgd } from '../helpers/nat-fake-igd.ts'
import { withLoopbackServers } from '../helpers/nat-loopback-servers.ts'

const PRIVATE_ONLY = {
  networkInterfaces: (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', cidr: '127.0.0.1/8', internal: true, mac: '00:00:00:00:00:00', netmask: '255.0.0.0' }],
    eth0: [{ address: '192.168.1.2', family: 'IPv4', cidr: '192.168.1.2/24', internal: false, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' }]
  }),
  readIfInet6: (): string | undefined => undefined
}

/** A TCP server on 127.0.0.1 that accepts and never answers (a reflector that stays silent). */
async function startSilentServer (): Promise<{ port: number, close: () => Promise<void> }> {
  const held: Socket[] = []
  const silent = createServer(s => { s.on('error', () => undefined); held.push(s) })
  const { port } = await listenTcp(silent, { port: 0, host: '127.0.0.1' })
  return {
    port,
    close: async () => {
      for (const s of held) s.destroy()
      await new Promise<void>(resolve => silent.close(() => { resolve() }))
    }
  }
}

function stunOption (hostPort: string): StunServerSpec[] {
  const [host = '', port = '0'] = hostPort.split(':')
  return [{ host, port: Number(port) }]
}

function fakeDiscovery (gw: FakeGateway): ProbeDeps {
  return {
    interfaces: PRIVATE_ONLY,
    discoverGateways: (): Promise<DiscoveredGateways> => Promise.resolve({ upnp: gw, errors: {} })
  }
}

describe('probeNetwork on loopback', () => {
  it('no NAT + loopback reflector success: proves local reachability only (naming 127.0.0.0/8), never verified, exit 1, within 3 s', async () => {
    await withLoopbackServers(async (stun, reflector) => {
      const started = Date.now()
      const r = await probeNetwork({ port: 0, stunServers: stunOption(stun), reflectors: [reflector], upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
      assert.equal(r.schema, 'iicp-nat-probe/v1')
      assert.equal(r.nat_behavior.mapping, 'none')
      assert.equal(r.nat_behavior.method, 'rfc5780')
      assert.equal(r.nat_behavior.udp_blocked, false)
      assert.equal(r.nat_type, 'direct')
      assert.equal(r.reachability_checks.length, 1)
      assert.equal(r.reachability_checks[0]?.reachable, true)
      assert.equal(r.reachability_checks[0]?.via, 'direct')
      assert.equal(r.reachability_checks[0]?.counted_as, 'local_only')
      assert.equal(r.reflector_outcome.ipv4, 'local_only')
      assert.equal(r.exposure_mode, 'outbound_only')
      assert.equal(r.verification, 'self_attested')
      assert.equal(r.exit_code, 1)
      assert.equal(r.advertised_endpoint, null)
      assert.match(r.recommendation, /127\.0\.0\.1 \(loopback, 127\.0\.0\.0\/8\).*local reachability only/)
      assert.equal(r.ipv4.wan_ip.value, '127.0.0.1')
      assert.equal(r.ipv4.wan_ip.consistent, true)
      assert.deepEqual(r.ipv4.local_addresses, [{ interface: 'eth0', address: '192.168.1.2', prefix_length: 24, range: 'private' }])
      assert.equal(r.port_mapping.protocol, null)
      assert.match(r.port_mapping.error ?? '', /--no-upnp/)
      assert.equal(r.ipv6.enabled, false)
      assert.equal(r.inputs.upnp, false)
      assert.equal(r.inputs.stun_default_servers, false)
      assert.ok(r.duration_ms < 3000)
      assert.ok(r.inputs.port > 0)
    })
  })

  it('records whether the dial-back came from an address the probe contacted', async () => {
    await withLoopbackServers(async stun => {
      const separate = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, dialFrom: ['127.0.0.9'] })
      const { url } = await separate.listen()
      try {
        const r = await probeNetwork({ port: 0, stunServers: stunOption(stun), reflectors: [url], upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
        const c = r.reachability_checks[0]
        assert.equal(c?.dialed_from, '127.0.0.9')
        assert.equal(c?.dialback_from_contacted, false)
        assert.equal(c?.counted_as, 'local_only', 'a loopback dial-back proves local reachability only')
        assert.equal(r.verification, 'self_attested')
        // Same reflector host, dialling from the STUN alternate address the probe contacted: a weak success.
        const viaAlt = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, dialFrom: ['127.0.0.3'] })
        const alt = await viaAlt.listen()
        try {
          const weak = await probeNetwork({ port: 0, stunServers: stunOption(stun), reflectors: [alt.url], upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
          assert.equal(weak.reachability_checks[0]?.dialback_from_contacted, true)
          assert.equal(weak.reachability_checks[0]?.counted_as, 'local_only', 'loopback filtering is endpoint-independent, and the address local')
        } finally {
          await viaAlt.close()
        }
      } finally {
        await separate.close()
      }
    })
  })

  it('counts a gateway without a public WAN address (UPnP "", NAT-PMP result 3) in port_mapping and compat', async () => {
    const gw = createFakeGateway({ externalIp: '' })
    const r = await probeNetwork({
      port: 0, stun: false, ipv6: false,
      deps: { interfaces: PRIVATE_ONLY, discoverGateways: () => Promise.resolve({ upnp: gw, natPmpRefusal: { gateway: '192.168.1.1', resultCode: 3 }, errors: { natpmp: 'refused' } }) }
    })
    assert.match(r.port_mapping.discovery_errors.upnp ?? '', /no external address/)
    assert.equal(r.port_mapping.external_ip, null)
    assert.equal(r.compat.rust.nat_profile.tier, 4, 'upstream: UPnP without WAN and no echo IP gives tier 4')
    // No outside view (STUN off, no reflector), so no CGNAT claim is made from it.
    assert.equal(r.cgnat.detected, false)
  })

  it('without a reflector nothing is verified: private only gives outbound_only (1), a public interface self-attested (2)', async () => {
    await withLoopbackServers(async stun => {
      const r = await probeNetwork({ port: 0, stunServers: stunOption(stun), upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
      assert.equal(r.exposure_mode, 'outbound_only')
      assert.equal(r.exit_code, 1)
      assert.deepEqual(r.reachability_checks, [])
      const publicIface = {
        networkInterfaces: (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({ eth0: [{ address: '11.0.0.5', family: 'IPv4', cidr: '11.0.0.5/24', internal: false, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' }] }),
        readIfInet6: (): string | undefined => undefined
      }
      const claimed = await probeNetwork({ port: 0, stunServers: stunOption(stun), upnp: false, ipv6: false, deps: { interfaces: publicIface } })
      assert.equal(claimed.exposure_mode, 'ipv4_public_direct')
      assert.equal(claimed.verification, 'self_attested')
      assert.equal(claimed.exit_code, 2)
      assert.deepEqual(claimed.ipv4.public_on_interface, ['11.0.0.5'])
    })
  })

  it('one silent STUN server is "unreachable", not "UDP blocked"; two silent servers are UDP blocked (item 4); both finish on time', async () => {
    const ports: number[] = []
    for (let i = 0; i < 2; i++) {
      const s = createServer()
      await new Promise<void>(resolve => s.listen(0, '127.0.0.2', () => { resolve() }))
      const a = s.address()
      await new Promise<void>(resolve => s.close(() => { resolve() }))
      ports.push(a !== null && typeof a === 'object' ? a.port : 1)
    }
    const started = Date.now()
    const one = await probeNetwork({ port: 0, stunServers: [{ host: '127.0.0.2', port: ports[0] ?? 1 }], upnp: false, ipv6: false, timeoutMs: 1000, deps: { interfaces: PRIVATE_ONLY } })
    assert.ok(Date.now() - started < 2500)
    assert.equal(one.nat_behavior.udp_blocked, false)
    assert.equal(one.nat_behavior.servers_unreachable, true)
    assert.match(one.nat_behavior.error ?? '', /unreachable/)
    assert.doesNotMatch(one.recommendation, /UDP .*blocked/)
    assert.equal(one.nat_type, 'unknown')
    assert.equal(one.exposure_mode, 'outbound_only')
    const two = await probeNetwork({ port: 0, stunServers: ports.map(port => ({ host: '127.0.0.2', port })), upnp: false, ipv6: false, timeoutMs: 1000, deps: { interfaces: PRIVATE_ONLY } })
    assert.equal(two.nat_behavior.udp_blocked, true)
    assert.equal(two.nat_behavior.servers_unreachable, false)
    assert.equal(two.nat_type, 'unknown')
    assert.match(two.recommendation, /Outbound UDP to the STUN servers is blocked/)
  })

  it('--map through a fake gateway: maps, the loopback reflector reaches it (local only: self-attested, exit 2), deletes', async () => {
    await withLoopbackServers(async (_stun, reflector) => {
      const gw = createFakeGateway({ externalIp: '11.0.0.10' })
      const r = await probeNetwork({ port: 0, stun: false, reflectors: [reflector], map: true, ipv6: false, deps: fakeDiscovery(gw) })
      assert.equal(r.port_mapping.protocol, 'upnp-igd')
      assert.equal(r.port_mapping.external_ip, '11.0.0.10')
      assert.equal(r.port_mapping.mappings.length, 1)
      const m = r.port_mapping.mappings[0]
      assert.equal(m?.verified, true)
      assert.equal(m?.deleted, true)
      assert.equal(m?.kept, false)
      assert.equal(m?.lease_s, 120)
      assert.equal(r.reachability_checks[0]?.via, 'upnp-igd')
      assert.equal(r.exposure_mode, 'ipv4_public_direct')
      assert.equal(r.verification, 'self_attested')
      assert.equal(r.exit_code, 2)
      assert.equal(r.advertised_endpoint, `http://11.0.0.10:${m?.external_port ?? 0}`)
      assert.equal(r.recommended_transport_method, 'upnp_mapped')
      assert.equal(gw.mappings.size, 0, 'deleted on the router')
      assert.deepEqual(gw.calls.map(c => c.method), ['externalIp', 'addPortMapping', 'externalIp', 'deletePortMapping'])
    })
  })

  it('--map --keep leaves the mapping in place; read-only never maps', async () => {
    const gw = createFakeGateway({ externalIp: '11.0.0.10' })
    const kept = await probeNetwork({ port: 0, stun: false, map: true, keep: true, ipv6: false, deps: fakeDiscovery(gw) })
    assert.equal(kept.port_mapping.mappings[0]?.kept, true)
    assert.equal(kept.port_mapping.mappings[0]?.lease_s, 3600)
    assert.equal(gw.mappings.size, 1)
    const ro = createFakeGateway({ externalIp: '11.0.0.10' })
    const readOnly = await probeNetwork({ port: 0, stun: false, ipv6: false, deps: fakeDiscovery(ro) })
    assert.deepEqual(ro.calls.map(c => c.method), ['externalIp'])
    assert.equal(readOnly.exposure_mode, 'outbound_only')
    assert.equal(readOnly.recommended_transport_method, 'upnp_mapped')
    assert.ok(readOnly.compat.rust.nat_profile.transport_method === 'upnp_mapped')
  })

  it('item 15 end to end: an IGD with a CGNAT WAN maps but the result is ipv4_cgnat_blocked, never upnp_mapped', async () => {
    const gw = createFakeGateway({ externalIp: '100.64.0.10' })
    const r = await probeNetwork({ port: 0, stun: false, map: true, ipv6: false, deps: fakeDiscovery(gw) })
    assert.equal(r.exposure_mode, 'ipv4_cgnat_blocked')
    assert.equal(r.cgnat.detected, true)
    assert.equal(r.double_nat, true)
    assert.ok(!r.ladder.includes('upnp_mapped'))
    assert.equal(r.exit_code, 1)
    assert.equal(r.port_mapping.mappings[0]?.deleted, true)
    assert.equal(gw.mappings.size, 0)
  })

  it('uses the real UPnP client against a loopback fake IGD given by URL', async () => {
    const igd = await startFakeIgd({ externalIp: '11.0.0.10' })
    try {
      const r = await probeNetwork({ port: 0, stun: false, natPmp: false, ipv6: false, map: true, gateways: [igd.location], deps: { interfaces: PRIVATE_ONLY } })
      assert.equal(r.port_mapping.igd?.location, igd.location)
      assert.equal(r.port_mapping.igd?.friendly_name, 'Fake & Test Router')
      assert.equal(r.port_mapping.external_ip, '11.0.0.10')
      assert.equal(r.port_mapping.mappings[0]?.deleted, true)
      assert.equal(igd.mappings.size, 0)
      assert.equal(r.exposure_mode, 'ipv4_public_direct')
      assert.equal(r.verification, 'self_attested')
      assert.equal(r.exit_code, 2)
    } finally {
      await igd.close()
    }
  })

  it('ends on its deadline with partial results when a reflector and a gateway stay silent', async () => {
    const { port, close } = await startSilentServer()
    const slowGateway: ProbeDeps = {
      interfaces: PRIVATE_ONLY,
      discoverGateways: async (o): Promise<DiscoveredGateways> => {
        await new Promise<void>(resolve => { setTimeout(resolve, o.timeoutMs ?? 0) })
        return { errors: { upnp: 'no UPnP IGD answered', natpmp: `no answer within ${o.timeoutMs ?? 0} ms` } }
      }
    }
    try {
      const started = Date.now()
      const r = await probeNetwork({ port: 0, stun: false, ipv6: false, reflectors: [`http://127.0.0.1:${port}`], timeoutMs: 1000, deps: slowGateway })
      const took = Date.now() - started
      assert.ok(took < 1500, `took ${took} ms`)
      assert.equal(r.reachability_checks[0]?.reachable, false)
      assert.match(r.reachability_checks[0]?.error ?? '', /did not answer/)
      assert.equal(r.port_mapping.protocol, null)
      assert.match(r.port_mapping.error ?? '', /no UPnP IGD answered/)
      assert.equal(r.exit_code, 1)
    } finally {
      await close()
    }
  })

  it('cancellation rejects with ERR_ABORTED and deletes the mapping it made', async () => {
    const { port, close } = await startSilentServer()
    const gw = createFakeGateway({ externalIp: '11.0.0.10' })
    const ctrl = new AbortController()
    try {
      const p = probeNetwork({ port: 0, stun: false, map: true, ipv6: false, reflectors: [`http://127.0.0.1:${port}`], timeoutMs: 10_000, signal: ctrl.signal, deps: fakeDiscovery(gw) })
      await gw.waitForCalls('addPortMapping', 1)
      setTimeout(() => { ctrl.abort() }, 50)
      await assert.rejects(p, (err: unknown) => (err as { code?: string }).code === 'ERR_ABORTED')
      assert.equal(gw.mappings.size, 0)
      assert.ok(gw.calls.some(c => c.method === 'deletePortMapping'))
    } finally {
      await close()
    }
  })

  it('rejects invalid STUN servers before sending anything', async () => {
    await assert.rejects(probeNetwork({ stunServers: [{ host: '0x7f.1', port: 3478 }], upnp: false, ipv6: false }), (err: unknown) => (err as { code?: string }).code === 'ERR_INVALID_ADDRESS')
  })
})
