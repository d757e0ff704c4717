/**
 * NAT lab: `iicp-nat probe` on every topology, cross-checked in the same test against the
 * topology's ground truth and the independent judges (coturn's turnutils_natdiscovery `-m` and
 * `-f` on fresh NAT state, and a real TCP connection from an internet host the client never
 * contacted). Needs root and the lab binaries; skips otherwise.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LAB_BASE_BINARIES, LAB_UPNP_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import { judgeTopology } from '../helpers/lab-judge.ts'
import { probeArgs, resultLine, runProbe } from '../helpers/lab-probe.ts'
import { natDiscovery, natpmpPublicIp, seenAddresses, stunReflexive } from './judges.ts'
import { SERVER_READY_MS, createLab } from './lab.ts'
import type { Lab } from './lab.ts'
import { MINIUPNPD_TOPOLOGIES, TOPOLOGY_NAMES } from './topologies.ts'
import type { GroundTruth, TopologyName } from './topologies.ts'

const SKIP = labSkipReason(LAB_BASE_BINARIES)
const UPNP_SKIP = SKIP ?? labSkipReason(LAB_UPNP_BINARIES)

/** Port the probe tests (its own temporary listener); the judges' inbound checks use SERVICE_PORT. */
const PROBE_PORT = 9484
const SERVICE_PORT = 9485
/** Topologies built at once: judging is mostly waiting for natdiscovery's 3 s timeouts. */
const CONCURRENCY = 6

/** The exposure mode spec §1.6 gives for a topology's ground truth (reachability from any internet host). */
function expectedExposure (truth: GroundTruth): string {
  const v4 = truth.inboundV4Open
  const v6 = truth.inboundV6Open === true
  if (v4 && v6) return 'dual_stack_available'
  if (v4) return 'ipv4_public_direct'
  if (v6) return 'ipv6_direct_pinhole_available'
  if (truth.inboundV6Open === false) return 'ipv6_direct_firewall_required'
  if (truth.cgnat) return 'ipv4_cgnat_blocked'
  return 'outbound_only'
}

describe('NAT lab: iicp-nat probe against independent judges', { skip: SKIP ?? false, concurrency: CONCURRENCY }, () => {
  let lab: Lab | undefined
  before(async () => { lab = await createLab() })
  after(async () => { await lab?.close() })

  it('our STUN server (nat/stun) is classified by coturn\'s RFC 5780 client exactly like coturn', async t => {
    assert.ok(lab !== undefined && lab.stun !== undefined)
    const ours = lab.stun
    await Promise.all((['restricted-cone', 'symmetric'] as const).map(async name => {
      assert.ok(lab !== undefined)
      const topo = await lab.addTopology(name)
      try {
        await topo.resetState()
        const filtering = await natDiscovery(topo.clientNs, 'filtering', ours)
        await topo.resetState()
        const mapping = await natDiscovery(topo.clientNs, 'mapping', ours, topo.clientV4)
        const reflexive = await stunReflexive(topo.clientNs, ours)
        t.diagnostic(`${name}: natdiscovery vs our server: mapping=${mapping.behaviour} filtering=${filtering.behaviour} stunclient reflexive=${reflexive ?? '-'}`)
        assert.equal(mapping.behaviour, topo.truth.mapping, mapping.output)
        assert.equal(filtering.behaviour, topo.truth.filtering, filtering.output)
        assert.equal(reflexive?.split(':')[0], topo.publicV4)
      } finally {
        await lab.removeTopology(topo)
      }
    }))
  })

  for (const name of TOPOLOGY_NAMES) {
    const skip = MINIUPNPD_TOPOLOGIES.includes(name) ? (UPNP_SKIP ?? false) : false
    it(`${name}: probe agrees with the judges and the ground truth`, { skip }, async t => {
      assert.ok(lab !== undefined)
      await checkTopology(lab, name, msg => { t.diagnostic(msg) })
    })
  }
})

async function checkTopology (lab: Lab, name: TopologyName, diagnostic: (msg: string) => void): Promise<void> {
  const topo = await lab.addTopology(name)
  try {
    const service = lab.startNode(`http-target(${name})`, topo.clientNs, 'bin/http-target.ts', ['--port', String(SERVICE_PORT)])
    await service.waitFor(/^listening /m, SERVER_READY_MS)
    const judge = await judgeTopology(lab, topo, SERVICE_PORT)

    await topo.resetState()
    const probe = await runProbe(topo.clientNs, probeArgs(lab, topo, PROBE_PORT))
    const r = probe.report
    const line = resultLine(topo, probe, judge)
    diagnostic(line.slice(2))
    process.stdout.write(`${line}\n`)
    // Which internet hosts the client had contacted when the probe ended (the restricted-cone filter admits exactly these).
    const seen = topo.name === 'restricted-cone' ? `\nrouter seen-address set after the probe: ${(await seenAddresses(topo.routerNs[0] ?? '')).join(', ')}` : ''
    const context = `\n${line}\njudges:\n${judge.evidence}\nprobe nat_behavior: ${JSON.stringify(r.nat_behavior)}\nreachability: ${JSON.stringify(r.reachability_checks)}${seen}\ncgnat: ${JSON.stringify(r.cgnat)} double_nat: ${String(r.double_nat)}\nport_mapping: error=${String(r.port_mapping.error)} discovery_errors=${JSON.stringify(r.port_mapping.discovery_errors)} igd=${JSON.stringify(r.port_mapping.igd)}`

    // 1. The lab is what it claims: the independent judges confirm the ground truth.
    assert.equal(judge.mapping, topo.truth.mapping, `judge mapping vs ground truth${context}`)
    assert.equal(judge.filtering, topo.truth.filtering, `judge filtering vs ground truth${context}`)
    assert.equal(judge.inboundV4, topo.truth.inboundV4Open, `judge inbound IPv4 vs ground truth${context}`)
    assert.equal(judge.inboundV6, topo.truth.inboundV6Open, `judge inbound IPv6 vs ground truth${context}`)
    if (topo.truth.cgnat && topo.miniupnpd === undefined) {
      // No UPnP router: the carrier's 100.64/10 hop, found by TTL-limited probes, is the only evidence (issue 8 item 3).
      assert.equal(r.cgnat.hop_check.ran, true, `carrier hop check ran${context}`)
      assert.equal(r.cgnat.hop_check.carrier_hop?.address, '100.64.0.1', `carrier hop${context}`)
    } else if (topo.truth.cgnat) {
      // miniupnpd itself says its WAN is carrier-grade / reserved, and NAT-PMP refuses to name a public address.
      assert.match(topo.miniupnpd?.output() ?? '', /Reserved \/ private IP address 100\.64\./, `miniupnpd WAN${context}`)
      assert.equal((await natpmpPublicIp(topo.clientNs, topo.gatewayV4)).ip, undefined, `natpmpc public IP${context}`)
    }

    // 2. The probe agrees with the judges …
    assert.equal(r.schema, 'iicp-nat-probe/v1')
    assert.equal(r.nat_behavior.mapping, judge.mapping, `probe mapping vs natdiscovery -m${context}`)
    assert.equal(r.nat_behavior.filtering, judge.filtering, `probe filtering vs natdiscovery -f${context}`)
    assert.equal(r.nat_behavior.udp_blocked, topo.truth.udpBlocked, `probe udp_blocked${context}`)
    assert.equal(r.nat_type, topo.truth.natType, `probe nat_type${context}`)
    if (topo.truth.mapping !== 'none' && topo.truth.mapping !== 'unknown') {
      assert.equal(r.ipv4.wan_ip.value, topo.publicV4, `probe WAN address${context}`)
    }
    // … and with the ground truth on what it derives from reachability.
    assert.equal(r.cgnat.detected, topo.truth.cgnat, `probe cgnat.detected${context}`)
    assert.equal(r.double_nat, topo.truth.cgnat, `probe double_nat (the CGNAT topology is a NAT behind a NAT)${context}`)
    const exposure = expectedExposure(topo.truth)
    assert.equal(r.exposure_mode, exposure, `probe exposure_mode${context}`)
    const direct = ['ipv4_public_direct', 'dual_stack_available', 'ipv6_direct_pinhole_available'].includes(exposure)
    assert.equal(r.verification, direct ? 'verified' : 'self_attested', `probe verification${context}`)
    assert.equal(probe.exitCode, direct ? 0 : 1, `probe exit code${context}\nstderr: ${probe.stderr}`)
    if (topo.truth.natType === 'symmetric') {
      // Spec §7 item 20: tunnel → relay, never hole punching.
      assert.ok(!r.ladder.includes('stun_hole_punch'), `symmetric NAT must not recommend hole punching${context}`)
      assert.deepEqual(r.ladder.slice(-2), ['external_tunnel', 'turn_relay'], `symmetric NAT ladder${context}`)
      assert.equal(r.recommended_transport_method, 'external_tunnel', `symmetric NAT recommendation${context}`)
    }
    if (direct && topo.truth.mapping === 'none') {
      // Spec §7 item 28: without a reflector, the public interface address is only a self-attested claim (exit 2).
      await topo.resetState()
      const bare = await runProbe(topo.clientNs, ['--stun', lab.stun ?? '', '--port', String(PROBE_PORT), '--no-v6'])
      assert.equal(bare.report.exposure_mode, exposure, `probe without reflector: exposure_mode${context}`)
      assert.equal(bare.report.verification, 'self_attested', `probe without reflector: verification${context}`)
      assert.equal(bare.exitCode, 2, `probe without reflector: exit code${context}`)
    }
  } finally {
    await lab.removeTopology(topo)
  }
}
