/**
 * Table-driven tests of the pure classification (spec §7 items 1-8, 15, 19-23, 28, 29).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EXPOSURE_MODES, classify, effectiveReflectorOutcome, exitCodeFor, natTypeFrom, type ClassifyInput } from '../../nat/classify/classify.ts'
import { compatBlock, qualifyProfile, upstreamProfile, type UpstreamNatProfile } from '../../nat/classify/compat.ts'
import type { NatBehavior } from '../../nat/stun/behavior-classify.ts'

interface Overrides {
  ipv4?: Partial<ClassifyInput['ipv4']>
  ipv6?: Partial<ClassifyInput['ipv6']>
  nat?: ClassifyInput['nat'] | null
  relayEndpoint?: string
  tunnelUrl?: string
}

/** A NATed host with no gateway, no IPv6 and no reflector, unless overridden. */
function input (o: Overrides = {}): ClassifyInput {
  const base: ClassifyInput = {
    port: 9484,
    ipv4: { enabled: true, publicOnInterface: [], reflector: 'not_run', ...o.ipv4 },
    nat: { udpBlocked: false, mapping: 'endpoint_independent', filtering: 'address_and_port_dependent', mappedAddress: '11.0.0.20' },
    ipv6: { enabled: true, globalAddresses: [], stableAddresses: [], reflector: 'not_run', ...o.ipv6 }
  }
  if (o.nat === null) delete base.nat
  else if (o.nat !== undefined) base.nat = o.nat
  if (o.relayEndpoint !== undefined) base.relayEndpoint = o.relayEndpoint
  if (o.tunnelUrl !== undefined) base.tunnelUrl = o.tunnelUrl
  return base
}

function profile (p: Partial<UpstreamNatProfile>): UpstreamNatProfile {
  return { tier: 4, transport_method: 'unreachable', public_endpoint: null, transport_endpoint: null, internal_endpoint: 'http://0.0.0.0:9484', operator_guidance: null, detection_log: [], ipv6: null, ...p }
}

function v6profile (addresses: string[], pinhole: boolean): UpstreamNatProfile['ipv6'] {
  return {
    global_v6_available: addresses.length > 0, stable_v6_available: addresses.length > 0, addresses, listener_v6_ok: true, external_v6_reachable: true,
    pinhole_active: pinhole, pinhole_unique_id: pinhole ? 1 : null, pinhole_lease_seconds: pinhole ? 3600 : null, pinhole_inbound_allowed: pinhole, error: null
  }
}

const VARIANTS = ['rust', 'python'] as const

describe('compat decision table (spec §1.3) in the Rust and Python variants', () => {
  it('item 1: tier 4 gives outbound_only, or ipv4_cgnat_blocked with a CGNAT keyword in the log', () => {
    for (const v of VARIANTS) {
      assert.equal(qualifyProfile(profile({ detection_log: ['tier-4: nothing worked'] }), v).exposure_mode, 'outbound_only', v)
      for (const line of ['WAN looks like CGNAT', 'DS-Lite tunnel', 'carrier-grade NAT suspected']) {
        const q = qualifyProfile(profile({ detection_log: ['tier-1: …', line] }), v)
        assert.equal(q.exposure_mode, 'ipv4_cgnat_blocked', `${v}: ${line}`)
        assert.equal(q.ipv4.cgnat, true)
      }
    }
  })

  it('item 2: tier 3 gives relay_required; external_tunnel at tier <= 2 gives tunnel_required', () => {
    for (const v of VARIANTS) {
      for (const m of ['direct', 'upnp_mapped', 'turn_relay', 'external_tunnel'] as const) {
        assert.equal(qualifyProfile(profile({ tier: 3, transport_method: m, public_endpoint: 'https://x.trycloudflare.com' }), v).exposure_mode, 'relay_required', `${v} ${m}`)
      }
    }
    for (const v of VARIANTS) {
      for (const tier of [0, 1, 2] as const) {
        assert.equal(qualifyProfile(profile({ tier, transport_method: 'external_tunnel', public_endpoint: 'https://n.ngrok.app' }), v).exposure_mode, 'tunnel_required', `${v} tier ${tier}`)
      }
      assert.equal(qualifyProfile(profile({ tier: 2, transport_method: 'direct', public_endpoint: 'http://203.0.113.5:1' }), v).exposure_mode, 'tunnel_required')
    }
  })

  it('item 3: tier 0/1 with an IPv4 endpoint and no IPv6 gives ipv4_public_direct', () => {
    for (const v of VARIANTS) {
      for (const tier of [0, 1] as const) {
        const q = qualifyProfile(profile({ tier, transport_method: tier === 0 ? 'direct' : 'upnp_mapped', public_endpoint: 'http://203.0.113.5:8080' }), v)
        assert.equal(q.exposure_mode, 'ipv4_public_direct', v)
        assert.equal(q.ipv4.public_ip, '203.0.113.5')
        assert.equal(q.ipv4.upnp_mapped, tier === 1)
      }
    }
  })

  it('item 4: a bracketed IPv6 endpoint with addresses gives pinhole_available with a pinhole, firewall_required without', () => {
    for (const v of VARIANTS) {
      const ep = 'http://[2a00::1]:9484'
      assert.equal(qualifyProfile(profile({ tier: 1, transport_method: 'direct', public_endpoint: ep, ipv6: v6profile(['2a00::1'], true) }), v).exposure_mode, 'ipv6_direct_pinhole_available', v)
      assert.equal(qualifyProfile(profile({ tier: 1, transport_method: 'direct', public_endpoint: ep, ipv6: v6profile(['2a00::1'], false) }), v).exposure_mode, 'ipv6_direct_firewall_required', v)
    }
  })

  it('item 5: IPv4 endpoint + IPv6 addresses + active pinhole gives dual_stack_available', () => {
    for (const v of VARIANTS) {
      const q = qualifyProfile(profile({ tier: 0, transport_method: 'direct', public_endpoint: 'http://203.0.113.5:9484', ipv6: v6profile(['2a00::1'], true) }), v)
      assert.equal(q.exposure_mode, 'dual_stack_available', v)
      assert.equal(q.ipv6.address, '2a00::1')
    }
  })

  it('item 6: a Quick Tunnel (synthetic tier 3 external_tunnel) is tunnel_required natively; Rust says relay_required', () => {
    const p = profile({ tier: 3, transport_method: 'external_tunnel', public_endpoint: 'https://abc.trycloudflare.com' })
    assert.equal(qualifyProfile(p, 'rust').exposure_mode, 'relay_required') // upstream defect 6.1 #7, kept in compat
    const c = classify(input({ tunnelUrl: 'https://abc.trycloudflare.com' }))
    assert.equal(c.exposure_mode, 'tunnel_required')
    assert.equal(c.recommended_transport_method, 'external_tunnel')
  })

  it('item 7: a relay-bound node is turn_relay + relay_required (upstream keeps a stale mode)', () => {
    const c = classify(input({ relayEndpoint: 'relay.example:9485' }))
    assert.equal(c.exposure_mode, 'relay_required')
    assert.equal(c.recommended_transport_method, 'turn_relay')
    const stale = profile({ tier: 4, transport_method: 'turn_relay' })
    assert.equal(qualifyProfile(stale, 'rust').exposure_mode, 'outbound_only')
  })

  it('item 8: a bracketed IPv6 endpoint: upstream parses it as "[2a00"', () => {
    const p = profile({ tier: 0, transport_method: 'direct', public_endpoint: 'http://[2a00::1]:9484' })
    // Upstream divergence (spec §1.3 rule 6): Rust ipv4_public_direct with "[2a00", Python outbound_only.
    assert.equal(qualifyProfile(p, 'rust').exposure_mode, 'ipv4_public_direct')
    assert.equal(qualifyProfile(p, 'rust').ipv4.public_ip, '[2a00')
    assert.equal(qualifyProfile(p, 'python').exposure_mode, 'outbound_only')
  })

  it('appends operator guidance to the recommendation and only ever emits the eight modes', () => {
    const q = qualifyProfile(profile({ operator_guidance: 'Forward port 9484.' }), 'python')
    assert.match(q.recommendation, /Forward port 9484\.$/)
    assert.ok(EXPOSURE_MODES.includes(q.exposure_mode))
  })
})

describe('native classification (spec §1.6, §2.2)', () => {
  const nat = (mapping: NatBehavior, filtering: NatBehavior, mappedAddress = '11.0.0.20'): ClassifyInput['nat'] => ({ udpBlocked: false, mapping, filtering, mappedAddress })

  it('maps mapping x filtering to nat_type', () => {
    const table: Array<[NatBehavior, NatBehavior, string]> = [
      ['none', 'endpoint_independent', 'direct'],
      ['none', 'unknown', 'direct'],
      ['endpoint_independent', 'endpoint_independent', 'full_cone'],
      ['endpoint_independent', 'address_dependent', 'restricted_cone'],
      ['endpoint_independent', 'address_and_port_dependent', 'port_restricted'],
      ['endpoint_independent', 'unknown', 'unknown'],
      ['address_dependent', 'endpoint_independent', 'symmetric'],
      ['address_and_port_dependent', 'address_and_port_dependent', 'symmetric'],
      ['unknown', 'unknown', 'unknown']
    ]
    for (const [m, f, t] of table) assert.equal(natTypeFrom(nat(m, f)), t, `${m} x ${f}`)
    assert.equal(natTypeFrom(undefined), 'unknown')
  })

  it('item 19: masquerade (EIM + APDF) is port_restricted; hole punching listed but not recommended', () => {
    const c = classify(input({ nat: nat('endpoint_independent', 'address_and_port_dependent') }))
    assert.equal(c.nat_type, 'port_restricted')
    assert.deepEqual(c.ladder, ['stun_hole_punch', 'external_tunnel', 'turn_relay'])
    assert.equal(c.recommended_transport_method, 'external_tunnel')
    assert.equal(c.exposure_mode, 'outbound_only')
  })

  it('item 20: random ports (APDM) are symmetric, with the tunnel -> relay ladder and never stun_hole_punch', () => {
    for (const m of ['address_dependent', 'address_and_port_dependent'] as const) {
      const c = classify(input({ nat: nat(m, 'address_and_port_dependent') }))
      assert.equal(c.nat_type, 'symmetric')
      assert.deepEqual(c.ladder, ['external_tunnel', 'turn_relay'])
      assert.equal(c.recommended_transport_method, 'external_tunnel')
      assert.match(c.recommendation, /symmetric/)
    }
  })

  it('item 21: 1:1 NAT is full_cone; with a seen-address filter restricted_cone', () => {
    assert.equal(classify(input({ nat: nat('endpoint_independent', 'endpoint_independent') })).nat_type, 'full_cone')
    assert.equal(classify(input({ nat: nat('endpoint_independent', 'address_dependent') })).nat_type, 'restricted_cone')
  })

  it('item 22: no NAT reports direct, and ipv4_public_direct once inbound is verified', () => {
    const noNat = nat('none', 'endpoint_independent', '11.0.0.20')
    const unverified = classify(input({ nat: noNat, ipv4: { publicOnInterface: ['11.0.0.20'] } }))
    assert.equal(unverified.nat_type, 'direct')
    assert.equal(unverified.exposure_mode, 'ipv4_public_direct')
    assert.equal(unverified.verification, 'self_attested')
    const verified = classify(input({ nat: noNat, ipv4: { publicOnInterface: ['11.0.0.20'], reflector: 'reachable', reflectorObserved: '11.0.0.20' } }))
    assert.equal(verified.exposure_mode, 'ipv4_public_direct')
    assert.equal(verified.verification, 'verified')
    assert.equal(verified.advertised_endpoint, 'http://11.0.0.20:9484')
    assert.equal(verified.recommended_transport_method, 'direct')
    assert.equal(exitCodeFor(verified), 0)
  })

  it('item 23: UDP blocked gives nat_type unknown without failing the classification', () => {
    const c = classify(input({ nat: { udpBlocked: true, mapping: 'unknown', filtering: 'unknown' } }))
    assert.equal(c.nat_type, 'unknown')
    assert.equal(c.exposure_mode, 'outbound_only')
    assert.match(c.recommendation, /UDP .* blocked/)
    assert.equal(classify(input({ nat: null })).nat_type, 'unknown')
  })

  it('item 15: IGD WAN in 100.64/10, RFC 1918, or STUN != IGD WAN gives ipv4_cgnat_blocked + double_nat, never upnp_mapped', () => {
    const cases: Array<[string, string | undefined, string]> = [
      ['100.64.0.10', '11.0.0.20', 'gateway_wan_cgnat'],
      ['192.168.100.2', '11.0.0.20', 'gateway_wan_private'],
      ['11.0.0.99', '11.0.0.20', 'stun_gateway_mismatch']
    ]
    for (const [wan, mapped, code] of cases) {
      for (const mapping of [undefined, { externalIp: wan, externalPort: 9484 }]) {
        const ipv4: Partial<ClassifyInput['ipv4']> = { gatewayWanIp: wan, gatewayProtocol: 'upnp-igd' }
        if (mapping !== undefined) ipv4.mapping = mapping
        const c = classify(input({ ipv4, nat: nat('endpoint_independent', 'address_and_port_dependent', mapped) }))
        assert.equal(c.exposure_mode, 'ipv4_cgnat_blocked', `${wan} mapped=${String(mapping !== undefined)}`)
        assert.equal(c.cgnat.detected, true)
        assert.equal(c.double_nat, true)
        assert.ok(c.cgnat.evidence.some(e => e.code === code), code)
        assert.ok(!c.ladder.includes('upnp_mapped'))
        assert.notEqual(c.recommended_transport_method, 'upnp_mapped')
        assert.equal(c.advertised_endpoint, null)
        assert.equal(exitCodeFor(c), 1)
      }
    }
    // A NAT-PMP WAN is checked the same way.
    const pmp = classify(input({ ipv4: { gatewayWanIp: '100.100.1.1', gatewayProtocol: 'nat-pmp' } }))
    assert.match(pmp.cgnat.evidence[0]?.detail ?? '', /NAT-PMP WAN 100\.100\.1\.1/)
  })

  it('a mapping on a public-WAN router is claimed (self_attested, upnp_mapped) until a reflector verifies it', () => {
    const ipv4: Partial<ClassifyInput['ipv4']> = { gatewayWanIp: '11.0.0.20', gatewayProtocol: 'upnp-igd', mapping: { externalIp: '11.0.0.20', externalPort: 40000 } }
    const claimed = classify(input({ ipv4 }))
    assert.equal(claimed.exposure_mode, 'ipv4_public_direct')
    assert.equal(claimed.verification, 'self_attested')
    assert.equal(claimed.recommended_transport_method, 'upnp_mapped')
    assert.equal(claimed.advertised_endpoint, 'http://11.0.0.20:40000')
    assert.equal(exitCodeFor(claimed), 2)
    const verified = classify(input({ ipv4: { ...ipv4, reflector: 'reachable', reflectorObserved: '11.0.0.20' } }))
    assert.equal(verified.verification, 'verified')
    assert.equal(exitCodeFor(verified), 0)
    const refuted = classify(input({ ipv4: { ...ipv4, reflector: 'unreachable' } }))
    assert.equal(refuted.exposure_mode, 'outbound_only')
    assert.equal(refuted.ipv4_direct, 'refuted')
    assert.equal(exitCodeFor(refuted), 1)
  })

  it('read-only with a public-WAN IGD lists upnp_mapped as a candidate but claims nothing', () => {
    const c = classify(input({ ipv4: { gatewayWanIp: '11.0.0.20', gatewayProtocol: 'upnp-igd' } }))
    assert.equal(c.exposure_mode, 'outbound_only')
    assert.equal(c.recommended_transport_method, 'upnp_mapped')
    assert.match(c.recommendation, /--map/)
    const refused = classify(input({ ipv4: { gatewayWanIp: '11.0.0.20', gatewayProtocol: 'upnp-igd', mappingFailed: true } }))
    assert.ok(!refused.ladder.includes('upnp_mapped'))
  })

  it('item 28: no direct mode is verified without a reflector success', () => {
    const iface = { publicOnInterface: ['11.0.0.20'] }
    const noNat = nat('none', 'endpoint_independent', '11.0.0.20')
    for (const reflector of ['not_run', 'error'] as const) {
      const c = classify(input({ nat: noNat, ipv4: { ...iface, reflector } }))
      assert.equal(c.exposure_mode, 'ipv4_public_direct')
      assert.equal(c.verification, 'self_attested')
      assert.equal(exitCodeFor(c), 2)
    }
    const pinhole = classify(input({ ipv6: { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'], pinhole: { address: '2a00:12::2', uniqueId: 1, leaseSeconds: 120 } } }))
    assert.equal(pinhole.exposure_mode, 'ipv6_direct_pinhole_available')
    assert.equal(pinhole.verification, 'self_attested')
    assert.equal(exitCodeFor(pinhole), 2)
    const dual = classify(input({ nat: noNat, ipv4: { ...iface, reflector: 'reachable' }, ipv6: { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'], pinhole: { address: '2a00:12::2', uniqueId: 1, leaseSeconds: 120 } } }))
    assert.equal(dual.exposure_mode, 'dual_stack_available')
    assert.equal(dual.verification, 'self_attested', 'IPv6 half not verified')
    const dualVerified = classify(input({ nat: noNat, ipv4: { ...iface, reflector: 'reachable' }, ipv6: { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'], reflector: 'reachable', reflectorObserved: '2a00:12::2' } }))
    assert.equal(dualVerified.exposure_mode, 'dual_stack_available')
    assert.equal(dualVerified.verification, 'verified')
    assert.equal(exitCodeFor(dualVerified), 0)
    // A STUN-contradicted interface address is no claim (there is NAT in front of it).
    const contradicted = classify(input({ ipv4: iface, nat: nat('endpoint_independent', 'address_and_port_dependent', '11.0.0.77') }))
    assert.equal(contradicted.exposure_mode, 'outbound_only')
  })

  it('IPv6: global address without verification is firewall_required; a refuted pinhole too', () => {
    const v6 = { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'] }
    assert.equal(classify(input({ ipv6: v6 })).exposure_mode, 'ipv6_direct_firewall_required')
    const refuted = classify(input({ ipv6: { ...v6, pinhole: { address: '2a00:12::2', uniqueId: 3, leaseSeconds: 60 }, reflector: 'unreachable' } }))
    assert.equal(refuted.exposure_mode, 'ipv6_direct_firewall_required')
    assert.equal(refuted.ipv6_direct, 'refuted')
    const verified = classify(input({ ipv6: { ...v6, reflector: 'reachable', reflectorObserved: '2a00:12::2' } }))
    assert.equal(verified.exposure_mode, 'ipv6_direct_pinhole_available')
    assert.equal(verified.advertised_endpoint, 'http://[2a00:12::2]:9484')
    assert.equal(verified.verification, 'verified')
    assert.equal(classify(input({ ipv6: { ...v6, enabled: false } })).exposure_mode, 'outbound_only')
  })

  it('item 29: UPnP failure plus an echo/STUN public IP gives no endpoint and no tunnel claim (Python did)', () => {
    const measured = input({ ipv4: { gatewayProtocol: 'upnp-igd', gatewayWanIp: '11.0.0.20', mappingFailed: true }, nat: nat('endpoint_independent', 'address_and_port_dependent', '11.0.0.20') })
    const c = classify(measured)
    assert.equal(c.exposure_mode, 'outbound_only')
    assert.equal(c.advertised_endpoint, null)
    assert.notEqual(c.exposure_mode, 'tunnel_required')
    const noIgd = input({ nat: nat('endpoint_independent', 'address_and_port_dependent', '11.0.0.20') })
    const py = upstreamProfile(noIgd, 'python')
    assert.equal(py.tier, 1)
    assert.equal(py.transport_method, 'external_tunnel')
    assert.equal(compatBlock(noIgd).python.qualification.exposure_mode, 'tunnel_required')
    assert.equal(compatBlock(noIgd).rust.qualification.exposure_mode, 'outbound_only')
  })

  it('compat replays upstream detection: UPnP with a CGNAT WAN is still upnp_mapped upstream (spec §6.1 #3)', () => {
    const i = input({ ipv4: { gatewayWanIp: '100.64.0.10', gatewayProtocol: 'upnp-igd' } })
    const c = { ...classify(i), compat: compatBlock(i) }
    assert.equal(c.exposure_mode, 'ipv4_cgnat_blocked')
    assert.equal(c.compat.rust.nat_profile.transport_method, 'upnp_mapped')
    assert.equal(c.compat.rust.qualification.exposure_mode, 'ipv4_public_direct')
    assert.equal(c.compat.python.qualification.exposure_mode, 'ipv4_public_direct')
  })

  it('compat: Python elects IPv6 tier 0 before UPnP; Rust (Linux) does not', () => {
    const c = { compat: compatBlock(input({ ipv4: { gatewayWanIp: '11.0.0.20', gatewayProtocol: 'upnp-igd' }, ipv6: { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'] } })) }
    assert.equal(c.compat.python.qualification.exposure_mode, 'ipv6_direct_firewall_required')
    assert.equal(c.compat.rust.qualification.exposure_mode, 'ipv4_public_direct')
  })

  it('a dial-back from an address the host contacted counts only on an endpoint-independent path', () => {
    const table: Array<[boolean, boolean, NatBehavior | undefined, string]> = [
      [false, false, 'address_dependent', 'reachable'], // separate dial-back address: full proof
      [true, true, 'address_dependent', 'reachable'], // through a router mapping / pinhole
      [true, false, 'endpoint_independent', 'reachable'],
      [true, false, 'address_dependent', 'unreachable'], // restricted cone explains it
      [true, false, 'address_and_port_dependent', 'inconclusive'],
      [true, false, 'unknown', 'inconclusive'],
      [true, false, undefined, 'inconclusive']
    ]
    for (const [contacted, eiPath, filtering, expected] of table) {
      assert.equal(effectiveReflectorOutcome('reachable', contacted, eiPath, filtering), expected, `${String(contacted)} ${String(eiPath)} ${String(filtering)}`)
    }
    assert.equal(effectiveReflectorOutcome('unreachable', true, false, undefined), 'unreachable')
    assert.equal(effectiveReflectorOutcome('error', true, false, undefined), 'error')
  })

  it('restricted cone: a same-address dial-back is explained away (outbound_only, exit 1); full cone stays verified', () => {
    const restricted = classify(input({ nat: nat('endpoint_independent', 'address_dependent', '11.0.6.10'), ipv4: { reflector: 'reachable', reflectorFromContacted: true, reflectorObserved: '11.0.6.10' } }))
    assert.equal(restricted.exposure_mode, 'outbound_only')
    assert.equal(restricted.reflector_outcome.ipv4, 'unreachable')
    assert.equal(restricted.ipv4_direct, 'refuted')
    assert.equal(exitCodeFor(restricted), 1)
    assert.match(restricted.recommendation, /address-dependent NAT filter admits/)
    const separate = classify(input({ nat: nat('endpoint_independent', 'address_dependent', '11.0.6.10'), ipv4: { reflector: 'reachable', reflectorFromContacted: false } }))
    assert.equal(separate.verification, 'verified')
    const fullCone = classify(input({ nat: nat('endpoint_independent', 'endpoint_independent', '11.0.6.10'), ipv4: { reflector: 'reachable', reflectorFromContacted: true, reflectorObserved: '11.0.6.10' } }))
    assert.equal(fullCone.exposure_mode, 'ipv4_public_direct')
    assert.equal(fullCone.verification, 'verified')
    const unknown = classify(input({ nat: null, ipv4: { reflector: 'reachable', reflectorFromContacted: true, reflectorObserved: '11.0.6.10' } }))
    assert.equal(unknown.exposure_mode, 'ipv4_public_direct')
    assert.equal(unknown.verification, 'self_attested')
    assert.equal(exitCodeFor(unknown), 2)
    assert.match(unknown.recommendation, /dialFrom/)
  })

  it('IPv6: a same-address dial-back without a pinhole is inconclusive; through a pinhole it verifies', () => {
    const v6 = { globalAddresses: ['2a00:12::2'], stableAddresses: ['2a00:12::2'], reflector: 'reachable' as const, reflectorFromContacted: true, reflectorObserved: '2a00:12::2' }
    const open = classify(input({ ipv6: v6 }))
    assert.equal(open.reflector_outcome.ipv6, 'inconclusive')
    assert.equal(open.exposure_mode, 'ipv6_direct_pinhole_available')
    assert.equal(open.verification, 'self_attested')
    const pinhole = classify(input({ ipv6: { ...v6, pinhole: { address: '2a00:12::2', uniqueId: 1, leaseSeconds: 120 } } }))
    assert.equal(pinhole.verification, 'verified')
    assert.equal(classify(input({ ipv6: { ...v6, reflectorFromContacted: false } })).verification, 'verified')
  })

  it('a gateway without a public WAN address while the host is online is CGNAT / double-NAT evidence', () => {
    const withoutWan = [{ source: 'igd' as const, detail: 'the IGD reports no external address ("")' }, { source: 'natpmp' as const, detail: 'the NAT-PMP gateway answers "network failure"' }]
    const i = input({ ipv4: { gatewayProtocol: 'upnp-igd', gatewayWanIp: '', gatewayWithoutPublicWan: withoutWan }, nat: nat('endpoint_independent', 'address_and_port_dependent', '11.0.9.10') })
    const c = { ...classify(i), compat: compatBlock(i) }
    assert.equal(c.exposure_mode, 'ipv4_cgnat_blocked')
    assert.equal(c.cgnat.detected, true)
    assert.equal(c.double_nat, true)
    assert.deepEqual(c.cgnat.evidence.map(e => e.code), ['gateway_no_public_wan', 'gateway_no_public_wan'])
    assert.match(c.cgnat.evidence[0]?.detail ?? '', /reaches the internet as 11\.0\.9\.10/)
    // Offline (no public outside view): a router without a WAN address is not evidence of anything.
    const offline = classify(input({ ipv4: { gatewayProtocol: 'upnp-igd', gatewayWanIp: '', gatewayWithoutPublicWan: withoutWan }, nat: { udpBlocked: true, mapping: 'unknown', filtering: 'unknown' } }))
    assert.equal(offline.cgnat.detected, false)
    // Upstream uses the echo IP when the IGD gives no WAN (spec §2.4 Rust step 6).
    assert.equal(c.compat.rust.nat_profile.public_endpoint, 'http://11.0.9.10:9484')
  })

  it('exit codes follow spec §4.5', () => {
    assert.equal(exitCodeFor({ exposure_mode: 'ipv4_public_direct', verification: 'verified' }), 0)
    assert.equal(exitCodeFor({ exposure_mode: 'ipv6_direct_pinhole_available', verification: 'self_attested' }), 2)
    for (const m of ['outbound_only', 'ipv4_cgnat_blocked', 'ipv6_direct_firewall_required', 'tunnel_required', 'relay_required'] as const) {
      assert.equal(exitCodeFor({ exposure_mode: m, verification: 'self_attested' }), 1, m)
    }
  })
})
