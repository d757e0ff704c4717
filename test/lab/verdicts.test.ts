/**
 * NAT lab: probe verdicts when the network or the servers misbehave (issue 8), each condition
 * built for real: a reflector whose dial-backs are dropped on its own egress, a second reflector,
 * a port already served, a STUN server that is down, 20 % loss on STUN answers (nftables numgen;
 * this kernel has no netem, so no added delay), miniupnpd killed while the probe holds a mapping,
 * a carrier NAT without UPnP plus an overlay interface in 100.64/10, a namespace with no network
 * at all, and a relay-style reflector that advertises its STUN server (one URL is enough).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LAB_BASE_BINARIES, LAB_UPNP_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import { probeArgs, resultLine, runProbe } from '../helpers/lab-probe.ts'
import { REFLECTOR_PORT } from './addresses.ts'
import { SERVER_READY_MS, createLab } from './lab.ts'
import type { Lab } from './lab.ts'
import { ipIn, nftIn } from './namespaces.ts'

const SKIP = labSkipReason(LAB_BASE_BINARIES)
const UPNP_SKIP = SKIP ?? labSkipReason(LAB_UPNP_BINARIES)
const PORT = 9484
/** A generous probe deadline: the machine running the lab may be heavily loaded (the reflector's own dial timeout is 2 s). */
const SLOW = ['--timeout', '8']

/** A reflector in the internet namespace whose dial-backs leave from an address the namespace drops. */
const BLOCKED_REFLECTOR = '11.0.0.8'
const BLOCKED_DIAL_FROM = '11.0.0.9'

describe('NAT lab: verdicts under misbehaving networks and servers (issue 8)', { skip: SKIP ?? false, concurrency: 4 }, () => {
  let lab: Lab | undefined
  let blockedUrl = ''
  before(async () => {
    lab = await createLab()
    for (const a of [BLOCKED_REFLECTOR, BLOCKED_DIAL_FROM]) await ipIn(lab.inetNs, ['addr', 'add', `${a}/8`, 'dev', 'br0'])
    await nftIn(lab.inetNs, `table ip h8egress {\n chain out {\n type filter hook output priority 0; policy accept;\n ip saddr ${BLOCKED_DIAL_FROM} tcp flags syn drop\n }\n}\n`)
    const p = lab.startNode('reflector(blocked egress)', lab.inetNs, 'bin/reflector.ts', ['--host', BLOCKED_REFLECTOR, '--port', String(REFLECTOR_PORT), '--dial-from', BLOCKED_DIAL_FROM])
    await p.waitFor(/^listening /m, SERVER_READY_MS)
    blockedUrl = `http://${BLOCKED_REFLECTOR}:${REFLECTOR_PORT}`
  })
  after(async () => { await lab?.close() })
  const L = (): Lab => { assert.ok(lab !== undefined); return lab }

  it('items 2, 7, 9 on a public host: a reflector that cannot dial out is inconclusive, a second one verifies; a busy port is inconclusive; --reflector alone is enough', async t => {
    const topo = await L().addTopology('public')
    try {
      const stun = L().stun ?? ''
      const onlyBlocked = await runProbe(topo.clientNs, ['--stun', stun, '--reflector', blockedUrl, '--port', String(PORT), '--no-v6', ...SLOW])
      t.diagnostic(resultLine(topo, onlyBlocked, undefined, { case: 'blocked-reflector' }))
      assert.equal(onlyBlocked.report.reachability_checks[0]?.reflector_reachable, false, JSON.stringify(onlyBlocked.report.reachability_checks))
      assert.equal(onlyBlocked.report.reflector_outcome.ipv4, 'inconclusive')
      assert.equal(onlyBlocked.exitCode, 2)
      assert.doesNotMatch(onlyBlocked.report.recommendation, /run again with --reflector|open TCP port/)
      const both = await runProbe(topo.clientNs, ['--stun', stun, '--reflector', blockedUrl, '--reflector', L().reflectorUrl ?? '', '--port', String(PORT), '--no-v6', ...SLOW])
      t.diagnostic(resultLine(topo, both, undefined, { case: 'blocked+working' }))
      assert.equal(both.report.reachability_checks.length, 2)
      assert.equal(both.report.verification, 'verified')
      assert.equal(both.exitCode, 0)

      const service = L().startNode('http-target(busy port)', topo.clientNs, 'bin/http-target.ts', ['--port', String(PORT)])
      await service.waitFor(/^listening /m, SERVER_READY_MS)
      const busy = await runProbe(topo.clientNs, ['--stun', stun, '--reflector', L().reflectorUrl ?? '', '--port', String(PORT), '--no-v6', ...SLOW])
      t.diagnostic(resultLine(topo, busy, undefined, { case: 'port-in-use' }))
      assert.equal(busy.report.reachability_checks[0]?.port_in_use, true)
      assert.equal(busy.exitCode, 2)
      assert.match(busy.report.recommendation, /in use by another program/)
      await service.stop()

      const oneUrl = await runProbe(topo.clientNs, ['--reflector', L().reflectorUrl ?? '', '--port', String(PORT), '--no-v6', '--no-upnp', ...SLOW])
      t.diagnostic(resultLine(topo, oneUrl, undefined, { case: 'reflector-only' }))
      assert.equal(oneUrl.report.inputs.stun_source, 'reflector')
      assert.equal(oneUrl.report.nat_behavior.method, 'rfc5780')
      assert.equal(oneUrl.report.nat_type, 'direct')
      assert.equal(oneUrl.exitCode, 0)
    } finally {
      await L().removeTopology(topo)
    }
  })

  it('items 3, 4, 8: a carrier NAT without UPnP is found by its 100.64/10 hop; an overlay interface in 100.64/10 is not evidence; a dead STUN server is not "UDP blocked"', async t => {
    const cgn = await L().addTopology('cgnat-no-upnp')
    const plain = await L().addTopology('port-restricted')
    try {
      const r = await runProbe(cgn.clientNs, [...probeArgs(L(), cgn, PORT), ...SLOW])
      t.diagnostic(resultLine(cgn, r, undefined))
      assert.equal(r.report.cgnat.hop_check.carrier_hop?.address, '100.64.0.1', JSON.stringify(r.report.cgnat.hop_check))
      assert.equal(r.report.cgnat.detected, true)
      assert.equal(r.report.exposure_mode, 'ipv4_cgnat_blocked')

      // Tailscale-style overlay: its own 100.64/10 address on tailscale0 says nothing about a carrier.
      await ipIn(plain.clientNs, ['link', 'add', 'tailscale0', 'type', 'veth', 'peer', 'name', 'tsp0'])
      await ipIn(plain.clientNs, ['addr', 'add', '100.100.1.1/32', 'dev', 'tailscale0'])
      await ipIn(plain.clientNs, ['link', 'set', 'tailscale0', 'up'])
      await ipIn(plain.clientNs, ['link', 'set', 'tsp0', 'up'])
      const overlay = await runProbe(plain.clientNs, [...probeArgs(L(), plain, PORT), ...SLOW])
      t.diagnostic(resultLine(plain, overlay, undefined, { case: 'overlay-100.64' }))
      assert.equal(overlay.report.cgnat.detected, false, JSON.stringify(overlay.report.cgnat))
      const ts = overlay.report.local_addresses.find(a => a.interface === 'tailscale0')
      assert.equal(ts?.overlay, true)
      assert.match(ts?.reason ?? '', /never CGNAT evidence/)

      const dead = await runProbe(plain.clientNs, ['--stun', '11.0.0.1:3999', '--reflector', L().reflectorUrl ?? '', '--port', String(PORT), '--no-v6', ...SLOW])
      t.diagnostic(resultLine(plain, dead, undefined, { case: 'stun-down' }))
      assert.equal(dead.report.nat_behavior.udp_blocked, false)
      assert.equal(dead.report.nat_behavior.servers_unreachable, true)
      assert.doesNotMatch(dead.report.recommendation, /UDP to the STUN servers is blocked/)
    } finally {
      await Promise.all([L().removeTopology(cgn), L().removeTopology(plain)])
    }
  })

  it('item 5: 20 % loss on STUN answers does not flip a full cone (filtering repeated, confidence reported, budget follows --timeout)', async t => {
    const topo = await L().addTopology('full-cone')
    try {
      const router = topo.routerNs[0] ?? ''
      await nftIn(router, 'table ip h8loss {\n chain forward_loss {\n type filter hook forward priority -10; policy accept;\n ip saddr { 11.0.0.1, 11.0.0.2 } udp sport { 3478, 3479 } numgen random mod 5 0 drop\n }\n}\n')
      for (let i = 0; i < 3; i++) {
        await topo.resetState()
        const r = await runProbe(topo.clientNs, [...probeArgs(L(), topo, PORT), ...SLOW])
        t.diagnostic(resultLine(topo, r, undefined, { case: `loss-20%-run${i + 1}`, confidence: r.report.nat_behavior.confidence.filtering, stun_budget_note: r.report.inputs.timeout_ms }))
        assert.equal(r.report.nat_type, 'full_cone', JSON.stringify(r.report.nat_behavior))
        assert.ok(['high', 'low'].includes(r.report.nat_behavior.confidence.filtering))
      }
    } finally {
      await L().removeTopology(topo)
    }
  })

  it('item 6: miniupnpd killed while the probe holds a mapping: errors[], exit 3, and the command that removes it', { skip: UPNP_SKIP ?? false }, async t => {
    const topo = await L().addTopology('upnp')
    try {
      const igd = topo.miniupnpd
      assert.ok(igd !== undefined && topo.igdUrl !== undefined)
      const probe = runProbe(topo.clientNs, ['--map', '--gateway', topo.igdUrl, ...probeArgs(L(), topo, PORT)])
      await igd.waitFor(/AddPortMapping/i, 20_000)
      await igd.stop()
      const r = await probe
      t.diagnostic(resultLine(topo, r, undefined, { case: 'miniupnpd-killed' }))
      const m = r.report.port_mapping.mappings[0]
      assert.equal(m?.deleted, false, JSON.stringify(r.report.port_mapping))
      assert.match(m?.remove_command ?? '', /^upnpc -u http:\/\/192\.168\.1\.1:\d+\/rootDesc\.xml -d \d+ TCP$/)
      assert.equal(r.exitCode, 3)
      assert.match(r.report.errors.join('\n'), /NOT deleted.*remove it with: upnpc/)
    } finally {
      await L().removeTopology(topo)
    }
  })

  it('item 7: a namespace with no network at all: offline, exit 2', async t => {
    const ns = await L().ns.create('offline')
    await ipIn(ns, ['link', 'set', 'lo', 'up'])
    const r = await runProbe(ns, ['--port', String(PORT), '--no-upnp'])
    t.diagnostic(`# lab-result topology=offline exit=${String(r.exitCode)} errors=${JSON.stringify(r.report.errors)}`)
    assert.equal(r.exitCode, 2)
    assert.match(r.report.errors.join('\n'), /offline/)
  })
})
