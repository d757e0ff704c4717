/**
 * Probe verdicts under misbehaving conditions (issue 8 items 5-8), on loopback with injected
 * interfaces, DNS and gateways: the STUN budget follows the deadline, filtering carries a
 * confidence, a mapping left behind is an error, offline and a busy port are inconclusive, and
 * every local address is listed with its reason.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { NetworkInterfaceInfo } from 'node:os'
import { listenTcp } from '../../src/transport/listen.ts'
import { discoverNatBehavior, probeNetwork, type DiscoveredGateways, type NatBehaviorOptions } from '../../nat/index.ts'
import { parseProbeArgs } from '../../nat/cli.ts'
import { formatProbeReport } from '../../nat/probe/format.ts'
import { createFakeGateway } from '../helpers/nat-fake-gateway.ts'
import { withLoopbackServers } from '../helpers/nat-loopback-servers.ts'

type Ifaces = NodeJS.Dict<NetworkInterfaceInfo[]>
function ifaces (list: Ifaces): { networkInterfaces: () => Ifaces, readIfInet6: () => undefined } {
  return { networkInterfaces: () => list, readIfInet6: () => undefined }
}
const v4 = (address: string, cidr: number, internal = false): NetworkInterfaceInfo => ({ address, family: 'IPv4', cidr: `${address}/${cidr}`, internal, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' })
const v6 = (address: string, cidr: number): NetworkInterfaceInfo => ({ address, family: 'IPv6', cidr: `${address}/${cidr}`, internal: false, mac: '02:00:00:00:00:01', netmask: 'ffff:ffff:ffff:ffff::', scopeid: 0 })
const PRIVATE_ONLY = ifaces({ lo: [v4('127.0.0.1', 8, true)], eth0: [v4('192.168.1.2', 24)] })

function stunSpec (hostPort: string): Array<{ host: string, port: number }> {
  const [host = '', port = '0'] = hostPort.split(':')
  return [{ host, port: Number(port) }]
}

describe('item 5: the STUN budget follows --timeout; filtering carries a confidence', () => {
  it('an 8 s probe gives STUN 85 % of it (no 2.5 s cap)', async () => {
    let seen: number | undefined
    const discover = async (o: NatBehaviorOptions): Promise<Awaited<ReturnType<typeof discoverNatBehavior>>> => {
      seen = o.timeoutMs
      return await discoverNatBehavior({ ...o, timeoutMs: 300 })
    }
    await withLoopbackServers(async stun => {
      await probeNetwork({ port: 0, stunServers: stunSpec(stun), upnp: false, ipv6: false, timeoutMs: 8000, deps: { interfaces: PRIVATE_ONLY, discoverNatBehavior: discover } })
    })
    assert.ok(seen !== undefined && seen >= 6500, `STUN budget ${String(seen)} ms`)
  })

  it('filtering is measured in two rounds; an answered verdict is high confidence', async () => {
    await withLoopbackServers(async stun => {
      const r = await probeNetwork({ port: 0, stunServers: stunSpec(stun), upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY } })
      assert.equal(r.nat_behavior.filtering, 'endpoint_independent')
      assert.deepEqual(r.nat_behavior.confidence, { filtering: 'high', filtering_rounds: 2, filtering_agreeing: 2 })
    })
  })
})

describe('item 6: a mapping that could not be deleted is an error', () => {
  it('in errors[], exit 3, and the text names the exact command that removes it', async () => {
    const gw = createFakeGateway({ externalIp: '11.0.0.10' })
    void gw.waitForCalls('addPortMapping', 1).then(() => { gw.failing.add('deletePortMapping') })
    const r = await probeNetwork({ port: 0, stun: false, map: true, ipv6: false, deps: { interfaces: PRIVATE_ONLY, discoverGateways: (): Promise<DiscoveredGateways> => Promise.resolve({ upnp: gw, errors: {} }) } })
    const m = r.port_mapping.mappings[0]
    assert.equal(m?.deleted, false)
    assert.match(m?.remove_command ?? '', new RegExp(`^upnpc -u \\S+ -d ${m?.external_port ?? 0} TCP$`))
    assert.equal(r.exit_code, 3)
    assert.equal(r.errors.length, 1)
    assert.match(r.errors[0] ?? '', /NOT deleted.*remove it with: upnpc -u/)
    const text = formatProbeReport(r)
    assert.match(text, /✗ mapping .*NOT deleted.*remove it with: upnpc -u \S+ -d \d+ TCP/)
    assert.match(text, / {2}error {11}the upnp-igd mapping/)
  })
})

describe('item 7: offline, DNS failure and a busy port are inconclusive', () => {
  it('every STUN name failing with EAI_AGAIN says DNS fails / offline, exit 2', async () => {
    const lookup = (host: string): Promise<{ address: string }> => Promise.reject(Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: 'EAI_AGAIN' }))
    const r = await probeNetwork({ port: 0, stunServers: [{ host: 'stun.example.net', port: 3478 }, { host: 'stun2.example.net', port: 3478 }], upnp: false, ipv6: false, deps: { interfaces: PRIVATE_ONLY, lookup } })
    assert.equal(r.exit_code, 2)
    assert.match(r.errors.join('\n'), /DNS fails or this host is offline: stun\.example\.net: getaddrinfo EAI_AGAIN/)
    assert.match(r.nat_behavior.error ?? '', /DNS fails or this host is offline/)
    assert.match(r.recommendation, /^DNS fails or this host is offline/)
  })

  it('a host with nothing but loopback is offline, exit 2', async () => {
    const r = await probeNetwork({ port: 0, stun: false, upnp: false, ipv6: false, deps: { interfaces: ifaces({ lo: [v4('127.0.0.1', 8, true)] }) } })
    assert.equal(r.exit_code, 2)
    assert.match(r.errors.join('\n'), /offline: no network interface has an address besides loopback/)
  })

  it('--port held by another program: the reflector connects to that listener, the nonce cannot be checked, inconclusive (2) with that reason', async () => {
    const busy = createServer(s => { s.on('error', () => undefined); s.destroy() })
    const { port } = await listenTcp(busy, { port: 0, host: '0.0.0.0' })
    try {
      await withLoopbackServers(async (_stun, reflector) => {
        const r = await probeNetwork({ port, stun: false, upnp: false, ipv6: false, reflectors: [reflector], deps: { interfaces: PRIVATE_ONLY } })
        const c = r.reachability_checks[0]
        assert.equal(c?.port_in_use, true)
        assert.equal(c?.reflector_reachable, true)
        assert.match(c?.error ?? '', /in use by another program.*the reflector connected to it/)
        assert.equal(r.exit_code, 2)
        assert.match(r.recommendation, new RegExp(`Port ${port} is in use by another program`))
      })
    } finally {
      await new Promise<void>(resolve => busy.close(() => { resolve() }))
    }
  })
})

describe('item 8: every local address is listed with its reason', () => {
  it('documentation, link-local, overlay and private addresses appear with the range that decided', async () => {
    const sources = ifaces({
      lo: [v4('127.0.0.1', 8, true)],
      eth0: [v4('192.168.1.2', 24), v4('198.51.100.7', 24), v6('2001:db8::1', 64), v6('fe80::1', 64)],
      tailscale0: [v4('100.101.102.103', 32)]
    })
    const r = await probeNetwork({ port: 0, stun: false, upnp: false, deps: { interfaces: sources } })
    const by = new Map(r.local_addresses.map(a => [a.address, a]))
    assert.equal(r.local_addresses.length, 6)
    assert.equal(by.get('198.51.100.7')?.used, false)
    assert.match(by.get('198.51.100.7')?.reason ?? '', /documentation, 198\.51\.100\.0\/24/)
    assert.match(by.get('2001:db8::1')?.reason ?? '', /documentation, 2001:db8::\/32/)
    assert.match(by.get('fe80::1')?.reason ?? '', /link-?local|this link only/i)
    assert.equal(by.get('100.101.102.103')?.overlay, true)
    assert.match(by.get('100.101.102.103')?.reason ?? '', /never CGNAT evidence/)
    assert.equal(by.get('192.168.1.2')?.used, true)
    assert.equal(by.get('127.0.0.1')?.used, false)
    assert.equal(r.cgnat.detected, false, 'an overlay address in 100.64/10 is not CGNAT evidence')
  })

  it('the help text mentions no nonexistent "iicp-nat reflector" command', () => {
    let help = ''
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string): boolean => { help += chunk; return true })
    try {
      parseProbeArgs(['--help'], {})
    } finally {
      process.stdout.write = write
    }
    assert.match(help, /--reflector/)
    assert.doesNotMatch(help, /iicp-nat reflector/)
  })
})
