/**
 * The carrier hop check (issue 8 item 3): a 100.64.0.0/10 router a few hops out is CGNAT
 * evidence; an overlay path or a missing tool is reported, never guessed. Canned tool output at
 * the RunToolFn seam, plus one real traceroute/tracepath run to loopback when installed.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import { classify } from '../../nat/classify/classify.ts'
import { findCarrierHop, parseHops } from '../../nat/probe/carrier-hop.ts'
import { probeNetwork } from '../../nat/index.ts'
import type { LocalAddress } from '../../nat/net/interfaces.ts'

const TRACEROUTE = `traceroute to 11.0.0.1 (11.0.0.1), 5 hops max, 60 byte packets
 1  192.168.1.1  0.101 ms
 2  100.64.0.1  0.230 ms
 3  *
 4  11.0.0.1  0.412 ms
`
const TRACEPATH = ` 1?: [LOCALHOST]                      pmtu 1500
 1:  192.168.1.1                                           0.080ms
 2:  100.64.0.1                                            0.120ms
 3:  no reply
`
const ETH0: LocalAddress = { interface: 'eth0', address: '127.0.0.1', family: 4, prefixLength: 8, range: 'loopback', internal: false }

describe('carrier hop check (item 3)', () => {
  it('parses traceroute and tracepath hops', () => {
    assert.deepEqual(parseHops(TRACEROUTE), [{ ttl: 1, address: '192.168.1.1' }, { ttl: 2, address: '100.64.0.1' }, { ttl: 3, address: null }, { ttl: 4, address: '11.0.0.1' }])
    assert.deepEqual(parseHops(TRACEPATH).slice(0, 2), [{ ttl: 1, address: '192.168.1.1' }, { ttl: 2, address: '100.64.0.1' }])
  })

  it('a 100.64/10 hop is CGNAT evidence, even without any UPnP router', async () => {
    const hop = await findCarrierHop({ target: '127.0.0.2', locals: [ETH0], timeoutMs: 1000, run: () => Promise.resolve(TRACEROUTE), findTool: name => `/usr/sbin/${name}` })
    assert.equal(hop.ran, true)
    assert.equal(hop.tool, 'traceroute')
    assert.deepEqual(hop.carrier_hop, { ttl: 2, address: '100.64.0.1' })
    const c = classify({
      port: 9484,
      ipv4: { enabled: true, publicOnInterface: [], reflector: 'not_run', carrierHop: { ttl: 2, address: '100.64.0.1' } },
      nat: { udpBlocked: false, mapping: 'endpoint_independent', filtering: 'address_and_port_dependent', mappedAddress: '11.0.3.10' },
      ipv6: { enabled: false, globalAddresses: [], stableAddresses: [], reflector: 'not_run' }
    })
    assert.equal(c.cgnat.detected, true)
    assert.equal(c.cgnat.evidence[0]?.code, 'carrier_hop_cgnat')
    assert.equal(c.exposure_mode, 'ipv4_cgnat_blocked')
  })

  it('says when it could not run: no tool, no IPv4 target, a path through an overlay interface', async () => {
    const none = await findCarrierHop({ target: '127.0.0.2', locals: [ETH0], timeoutMs: 1000, findTool: () => undefined })
    assert.equal(none.ran, false)
    assert.match(none.error ?? '', /neither traceroute nor tracepath/)
    const name = await findCarrierHop({ target: undefined, locals: [], timeoutMs: 1000 })
    assert.match(name.error ?? '', /no IPv4 address/)
    // The kernel's source address toward 127.0.0.2 is 127.0.0.1: pretend it sits on tailscale0.
    const overlay = await findCarrierHop({ target: '127.0.0.2', locals: [{ ...ETH0, interface: 'tailscale0' }], timeoutMs: 1000, run: () => Promise.resolve(TRACEROUTE) })
    assert.equal(overlay.ran, false)
    assert.equal(overlay.carrier_hop, null)
    assert.match(overlay.error ?? '', /overlay interface tailscale0/)
  })

  it('probe: the JSON carries cgnat.hop_check, and a canned 100.64 hop makes cgnat.detected', async () => {
    const ifaces = {
      networkInterfaces: (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({ eth0: [{ address: '192.168.1.2', family: 'IPv4', cidr: '192.168.1.2/24', internal: false, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' }] }),
      readIfInet6: (): string | undefined => undefined
    }
    const r = await probeNetwork({ port: 0, stun: false, upnp: false, ipv6: false, reflectors: ['http://127.0.0.2:1'], deps: { interfaces: ifaces, runTool: () => Promise.resolve(TRACEROUTE) } })
    assert.equal(r.cgnat.hop_check.ran, true)
    assert.equal(r.cgnat.detected, true)
    assert.equal(r.exposure_mode, 'ipv4_cgnat_blocked')
  })

  it('runs the real tool toward loopback when installed (one hop, no carrier)', async () => {
    const hop = await findCarrierHop({ target: '127.0.0.2', locals: [], timeoutMs: 5000 })
    if (hop.tool === null) {
      assert.match(hop.error ?? '', /neither/)
      return
    }
    assert.equal(hop.ran, true, hop.error ?? '')
    assert.equal(hop.hops[0]?.address, '127.0.0.2')
    assert.equal(hop.carrier_hop, null)
  })
})
