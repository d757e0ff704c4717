/**
 * Verdicts that must not overclaim (issue 8): a dial-back from inside the local network proves
 * local reachability only (item 1); a reflector that cannot dial out refutes nothing unless a
 * second reflector agrees (item 2). Pure classification plus probes on loopback.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import { classify, exitCodeFor, type ClassifyInput } from '../../nat/classify/classify.ts'
import { familyOutcome } from '../../nat/probe/reachability.ts'
import type { ProbeReachabilityCheck } from '../../nat/probe/schema.ts'
import { createReflectorServer, probeNetwork } from '../../nat/index.ts'

function v4Input (ipv4: Partial<ClassifyInput['ipv4']>, mapped: string): ClassifyInput {
  return {
    port: 9484,
    ipv4: { enabled: true, publicOnInterface: [], reflector: 'not_run', ...ipv4 },
    nat: { udpBlocked: false, mapping: 'endpoint_independent', filtering: 'endpoint_independent', mappedAddress: mapped },
    ipv6: { enabled: false, globalAddresses: [], stableAddresses: [], reflector: 'not_run' }
  }
}

function check (o: Partial<ProbeReachabilityCheck>): ProbeReachabilityCheck {
  return {
    reflector: 'http://r/v1/nat/dialback', target: null, family: 4, port: 9484, reachable: false, reflector_reachable: null, nonce_verified: false,
    observed_address: '11.0.0.20', latency_ms: null, reflector_address: null, dialed_from: null, error: null, via: 'direct',
    dialback_from_contacted: false, counted_as: 'not_run', port_in_use: false, ...o
  }
}

const PUBLIC_IFACE = {
  networkInterfaces: (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({ eth0: [{ address: '11.0.0.5', family: 'IPv4', cidr: '11.0.0.5/24', internal: false, mac: '02:00:00:00:00:01', netmask: '255.255.255.0' }] }),
  readIfInet6: (): string | undefined => undefined
}

describe('item 1: a direct mode is verified only at a global unicast address', () => {
  it('a dial-back that reached 192.168.1.5 (STUN-mapped 203.0.113.9) is local only: not verified, not exit 0, never advertised', () => {
    const c = classify(v4Input({ reflector: 'reachable', reflectorFromContacted: false, reflectorObserved: '192.168.1.5' }, '203.0.113.9'))
    assert.equal(c.reflector_outcome.ipv4, 'local_only')
    assert.notEqual(c.verification, 'verified')
    assert.notEqual(exitCodeFor(c), 0)
    assert.doesNotMatch(c.advertised_endpoint ?? '', /192\.168/)
    assert.match(c.recommendation, /192\.168\.1\.5 \(private, 192\.168\.0\.0\/16\).*local reachability only/)
  })

  it('with STUN-mapped 100.64.3.4 (CGNAT evidence) the same dial-back is not verified either', () => {
    const c = classify(v4Input({ reflector: 'reachable', reflectorFromContacted: false, reflectorObserved: '192.168.1.5' }, '100.64.3.4'))
    assert.equal(c.cgnat.detected, true)
    assert.notEqual(c.verification, 'verified')
    assert.equal(exitCodeFor(c), 1)
    assert.equal(c.exposure_mode, 'ipv4_cgnat_blocked')
  })

  it('a reflector that saw a CGNAT or documentation address names that range too', () => {
    for (const [ip, block] of [['100.64.3.4', '100\\.64\\.0\\.0/10'], ['198.51.100.7', '198\\.51\\.100\\.0/24']] as const) {
      const c = classify(v4Input({ reflector: 'reachable', reflectorFromContacted: false, reflectorObserved: ip }, ip))
      assert.equal(c.reflector_outcome.ipv4, 'local_only', ip)
      assert.match(c.recommendation, new RegExp(block), ip)
    }
  })

  it('a dial-back to a global address still verifies', () => {
    const c = classify(v4Input({ reflector: 'reachable', reflectorFromContacted: false, reflectorObserved: '11.0.0.20' }, '11.0.0.20'))
    assert.equal(c.verification, 'verified')
    assert.equal(c.advertised_endpoint, 'http://11.0.0.20:9484')
  })
})

describe('item 2: a reflector that cannot dial out refutes nothing on its own', () => {
  it('folds checks: one failure is unconfirmed, two distinct reflectors agreeing refute, any verified nonce wins', () => {
    const fail = (addr: string, error: string): ProbeReachabilityCheck => check({ reflector_reachable: false, reflector_address: addr, error })
    assert.equal(familyOutcome([fail('11.0.0.3', 'timeout')]).outcome, 'unconfirmed')
    assert.equal(familyOutcome([fail('11.0.0.3', 'timeout'), fail('11.0.0.3', 'timeout')]).outcome, 'unconfirmed', 'the same reflector twice is one voice')
    assert.equal(familyOutcome([fail('11.0.0.3', 'timeout'), fail('11.0.0.6', 'ECONNREFUSED')]).outcome, 'unreachable')
    assert.equal(familyOutcome([fail('11.0.0.3', 'timeout'), check({ reflector_address: '11.0.0.6', error: 'HTTP 502' })]).outcome, 'unconfirmed', 'a reflector that did not answer does not agree')
    const won = familyOutcome([fail('11.0.0.3', 'timeout'), check({ reachable: true, reflector_reachable: true, nonce_verified: true, reflector_address: '11.0.0.6' })])
    assert.equal(won.outcome, 'reachable')
    assert.equal(won.check?.reflector_address, '11.0.0.6')
    assert.deepEqual(won.failures, ['http://r/v1/nat/dialback: timeout'])
    assert.equal(familyOutcome([check({ error: 'ECONNREFUSED' })]).outcome, 'error')
  })

  it('a public host whose only reflector cannot dial out is inconclusive (exit 2), with no "run again with --reflector" advice', () => {
    const c = classify({ ...v4Input({ publicOnInterface: ['11.0.0.5'], reflector: 'unconfirmed', reflectorObserved: '11.0.0.5', reflectorFailures: ['http://r: timeout'] }, '11.0.0.5') })
    assert.equal(c.ipv4_direct, 'claimed')
    assert.equal(c.reflector_outcome.ipv4, 'inconclusive')
    assert.equal(c.exposure_mode, 'ipv4_public_direct')
    assert.equal(exitCodeFor(c), 2)
    assert.doesNotMatch(c.recommendation, /run again with --reflector/)
    assert.match(c.recommendation, /fewer than two reflectors agree/)
    assert.doesNotMatch(c.recommendation, /open TCP port/)
  })

  it('a working UPnP mapping whose reflector fails stays on the ladder (claimed, exit 2)', () => {
    const c = classify({ ...v4Input({ gatewayWanIp: '11.0.0.10', gatewayProtocol: 'upnp-igd', mapping: { externalIp: '11.0.0.10', externalPort: 9484 }, reflector: 'unconfirmed', reflectorObserved: '11.0.0.10' }, '11.0.0.10') })
    assert.equal(c.ipv4_direct, 'claimed')
    assert.ok(c.ladder.includes('upnp_mapped'))
    assert.equal(exitCodeFor(c), 2)
  })

  it('probe: one reflector that cannot dial out gives inconclusive (2); two that agree refute (1)', async () => {
    // dialFrom an address this host does not have: every dial-back fails on the reflector's side (EADDRNOTAVAIL).
    const broken = [
      createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, dialFrom: ['192.0.2.1'] }),
      createReflectorServer({ host: '127.0.0.4', port: 0, allowPrivate: true, dialFrom: ['192.0.2.1'] })
    ]
    try {
      const urls = await Promise.all(broken.map(async r => (await r.listen()).url))
      const one = await probeNetwork({ port: 0, stun: false, upnp: false, ipv6: false, reflectors: [urls[0] ?? ''], deps: { interfaces: PUBLIC_IFACE } })
      assert.equal(one.reachability_checks[0]?.reflector_reachable, false, JSON.stringify(one.reachability_checks))
      assert.equal(one.reflector_outcome.ipv4, 'inconclusive')
      assert.equal(one.ipv4_direct, 'claimed')
      assert.equal(one.exit_code, 2)
      assert.doesNotMatch(one.recommendation, /run again with --reflector/)
      const two = await probeNetwork({ port: 0, stun: false, upnp: false, ipv6: false, reflectors: urls, deps: { interfaces: PUBLIC_IFACE } })
      assert.equal(two.reachability_checks.length, 2, 'every reflector given is asked')
      assert.equal(two.reflector_outcome.ipv4, 'unreachable')
      assert.equal(two.ipv4_direct, 'refuted')
      assert.equal(two.exit_code, 1)
    } finally {
      await Promise.all(broken.map(async r => { await r.close() }))
    }
  })
})
