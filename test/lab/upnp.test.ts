/**
 * NAT lab with a real home router (miniupnpd: UPnP-IGD, NAT-PMP, IPv6 pinholes): `iicp-nat probe
 * --map` and `mapPort`/`openPinhole` lease renewal, judged by upnpc, natpmpc, the router's nft
 * ruleset, and real TCP connections from an internet host the client never contacted.
 * Spec §7 statements 24-26 and 28. Needs root and the lab binaries; skips otherwise.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { LAB_BASE_BINARIES, LAB_UPNP_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import { probeArgs, resultLine, runProbe } from '../helpers/lab-probe.ts'
import { sleep } from '../../src/abort.ts'
import { INTERNET_HOST_V4, INTERNET_HOST_V6 } from './addresses.ts'
import {
  httpCheck, miniupnpdRules, natpmpPublicIp, upnpAddMapping, upnpFirewallStatus, upnpList, upnpPinholeExists
} from './judges.ts'
import type { UpnpcTarget } from './judges.ts'
import { SERVER_READY_MS, createLab } from './lab.ts'
import type { Lab } from './lab.ts'
import type { LabProcess } from './processes.ts'
import type { Topology } from './topologies.ts'

const SKIP = labSkipReason([...LAB_BASE_BINARIES, ...LAB_UPNP_BINARIES])

/** Lease for the renewal test, seconds (miniupnpd enforces leases of a few seconds exactly). */
const SHORT_LEASE_S = 3
const CHECK_TIMEOUT_MS = 1500

describe('NAT lab: miniupnpd router, --map probe and lease renewal', { skip: SKIP ?? false }, () => {
  let lab: Lab | undefined
  let topo: Topology | undefined
  before(async () => {
    lab = await createLab()
    topo = await lab.addTopology('upnp')
  })
  after(async () => { await lab?.close() })

  const ctx = (): { lab: Lab, topo: Topology, clientV6: string, igd: UpnpcTarget, igd6: UpnpcTarget } => {
    assert.ok(lab !== undefined && topo?.clientV6 !== undefined)
    // upnpc -u skips SSDP discovery (~2 s per call); the first test proves discovery itself.
    return { lab, topo, clientV6: topo.clientV6, igd: { url: topo.igdUrl }, igd6: { url: topo.igdUrlV6 } }
  }
  const v4Url = (port: number): string => `http://${ctx().topo.publicV4}:${port}/`
  const v6Url = (port: number): string => `http://[${ctx().clientV6}]:${port}/`
  const fromInternet = async (url: string): Promise<{ ok: boolean, line: string }> =>
    await httpCheck(ctx().lab.inetNs, url, CHECK_TIMEOUT_MS, url.includes('[') ? INTERNET_HOST_V6 : INTERNET_HOST_V4)
  const startTarget = async (port: number): Promise<LabProcess> => {
    const { lab, topo } = ctx()
    const p = lab.startNode(`http-target(${port})`, topo.clientNs, 'bin/http-target.ts', ['--port', String(port)])
    await p.waitFor(/^listening /m, SERVER_READY_MS)
    return p
  }
  const assertNothingLeft = async (what: string): Promise<void> => {
    const { topo, igd } = ctx()
    const list = await upnpList(topo.clientNs, igd)
    assert.deepEqual(list.mappings, [], `${what}: upnpc -l lists leftover mappings\n${list.output}`)
    const rules = await miniupnpdRules(topo.routerNs[0] ?? '')
    assert.deepEqual(rules, { forward: [], dnat: [] }, `${what}: miniupnpd still holds nft rules`)
  }

  it('miniupnpd is a working gateway (judges: upnpc -l with SSDP discovery, natpmpc, upnpc -6 -S)', async () => {
    const { topo, igd6 } = ctx()
    const [list, natpmp, fw, target] = await Promise.all([
      upnpList(topo.clientNs),
      natpmpPublicIp(topo.clientNs, topo.gatewayV4),
      upnpFirewallStatus(topo.clientNs, igd6),
      startTarget(9590)
    ])
    try {
      assert.equal(list.externalIp, topo.publicV4, list.output)
      assert.deepEqual(list.mappings, [])
      assert.equal(natpmp.ip, topo.publicV4, natpmp.output)
      assert.ok(fw.enabled && fw.pinholeAllowed, fw.output)
      // Nothing is reachable from the internet before a mapping exists.
      const checks = await Promise.all([fromInternet(v4Url(9590)), fromInternet(v6Url(9590))])
      assert.deepEqual(checks.map(c => c.ok), [false, false], checks.map(c => c.line).join(' | '))
    } finally {
      await target.stop()
    }
  })

  it('probe --map: mapping and pinhole verified by the reflector, then deleted (no leftovers)', async t => {
    const { lab, topo, igd6 } = ctx()
    const port = 9600
    await topo.resetState()
    const run = await runProbe(topo.clientNs, ['--map', ...probeArgs(lab, topo, port)])
    const r = run.report
    const line = resultLine(topo, run, undefined, { mode: 'map' })
    t.diagnostic(line.slice(2))
    process.stdout.write(`${line}\n`)
    const context = `\n${line}\nport_mapping: ${JSON.stringify(r.port_mapping)}\nreachability: ${JSON.stringify(r.reachability_checks)}\nipv6.pinhole: ${JSON.stringify(r.ipv6.pinhole)}\nstderr: ${run.stderr}`

    assert.equal(run.exitCode, 0, context)
    assert.equal(r.exposure_mode, 'dual_stack_available', context)
    assert.equal(r.verification, 'verified', context)
    assert.equal(r.nat_type, 'port_restricted', context)
    assert.equal(r.port_mapping.protocol, 'upnp-igd', context)
    assert.equal(r.port_mapping.external_ip, topo.publicV4, context)
    assert.equal(r.port_mapping.mappings.length, 1, context)
    const m = r.port_mapping.mappings[0]
    assert.ok(m !== undefined)
    assert.equal(m.internal_host, topo.clientV4, context)
    assert.equal(m.internal_port, port, context)
    assert.equal(m.verified, true, context)
    assert.equal(m.kept, false, context)
    assert.equal(m.deleted, true, context)
    // The reflector really connected through the mapping (IPv4) and the pinhole (IPv6), and our listener got the nonce.
    const v4 = r.reachability_checks.find(c => c.family === 4)
    const v6 = r.reachability_checks.find(c => c.family === 6)
    assert.ok(v4?.reachable === true && v4.nonce_verified && v4.via === 'upnp-igd' && v4.target === `${topo.publicV4}:${m.external_port}`, context)
    assert.ok(v6?.reachable === true && v6.nonce_verified && v6.via === 'pinhole', context)
    const pinholeId = r.ipv6.pinhole?.unique_id
    assert.equal(typeof pinholeId, 'number', context)
    assert.equal(r.ipv6.pinhole?.deleted, true, context)

    // Afterwards: no mapping (upnpc -l), no pinhole (upnpc -6 -K), no rule on the router, and no way in.
    await assertNothingLeft('after probe --map')
    const pin = await upnpPinholeExists(topo.clientNs, pinholeId ?? -1, igd6)
    assert.equal(pin.exists, false, `pinhole ${String(pinholeId)} still exists:\n${pin.output}`)
    const target = await startTarget(port)
    try {
      assert.equal((await fromInternet(v4Url(m.external_port))).ok, false, 'IPv4 still reachable after the probe')
      assert.equal((await fromInternet(v6Url(port))).ok, false, 'IPv6 still reachable after the probe')
    } finally {
      await target.stop()
    }
  })

  it(`mapPort/openPinhole renew a ${SHORT_LEASE_S} s lease: reachable after 2x the lease, removed on stop; an unrenewed lease expires`, async t => {
    const { lab, topo, clientV6, igd, igd6 } = ctx()
    const [upnpPort, natpmpPort, controlPort] = [9610, 9611, 9612]
    const holdUpnp = lab.startNode('hold-mapping(upnp)', topo.clientNs, 'bin/hold-mapping.ts', ['--port', String(upnpPort), '--lease', String(SHORT_LEASE_S), '--pinhole', clientV6])
    const holdPmp = lab.startNode('hold-mapping(natpmp)', topo.clientNs, 'bin/hold-mapping.ts', ['--port', String(natpmpPort), '--lease', String(SHORT_LEASE_S), '--natpmp'])
    const control = await startTarget(controlPort)
    try {
      const [, pinholeLine] = await Promise.all([
        holdUpnp.waitFor(/^mapped via=upnp-igd external=\S+ lease=\d+$/m, 10_000),
        holdUpnp.waitFor(/^pinhole id=(\d+) lease=\d+$/m, 10_000),
        holdPmp.waitFor(/^mapped via=nat-pmp external=\S+ lease=\d+$/m, 10_000)
      ])
      const pinholeId = Number(pinholeLine[1])
      // Control: the same lease, made with upnpc and never renewed.
      await upnpAddMapping(topo.clientNs, topo.clientV4, controlPort, SHORT_LEASE_S, 'iicp-lab-control', igd)
      const mappedAt = performance.now()

      const urls = { upnp4: v4Url(upnpPort), upnp6: v6Url(upnpPort), natpmp4: v4Url(natpmpPort), control4: v4Url(controlPort) }
      const before = await Promise.all(Object.values(urls).map(fromInternet))
      assert.deepEqual(before.map(c => c.ok), [true, true, true, true], `right after mapping: ${before.map(c => c.line).join(' | ')}`)

      await sleep(Math.max(0, mappedAt + 2 * SHORT_LEASE_S * 1000 + 500 - performance.now()))
      const later = await Promise.all(Object.values(urls).map(fromInternet))
      const renewals = {
        mapping: (holdUpnp.output().match(/^renewed kind=mapping ok=true/gm) ?? []).length,
        pinhole: (holdUpnp.output().match(/^renewed kind=pinhole ok=true/gm) ?? []).length,
        natpmp: (holdPmp.output().match(/^renewed kind=mapping ok=true/gm) ?? []).length
      }
      t.diagnostic(`after ${2 * SHORT_LEASE_S}.5 s: ${later.map(c => c.line).join(' | ')}; renewals ${JSON.stringify(renewals)}`)
      assert.deepEqual(later.map(c => c.ok), [true, true, true, false],
        `after 2x lease (renewed: upnp v4, upnp v6 pinhole, natpmp v4; unrenewed control): ${later.map(c => c.line).join(' | ')}`)
      assert.ok(renewals.mapping >= 2 && renewals.pinhole >= 2 && renewals.natpmp >= 2, `renewals ${JSON.stringify(renewals)}`)
      const list = await upnpList(topo.clientNs, igd)
      assert.deepEqual(list.mappings.map(m => m.externalPort).sort(), [upnpPort, natpmpPort], list.output)
      assert.equal((await upnpPinholeExists(topo.clientNs, pinholeId, igd6)).exists, true)

      // Stop: both holders delete what they made.
      await Promise.all([holdUpnp.stop(5000), holdPmp.stop(5000)])
      assert.match(holdUpnp.output(), /^deleted mapping=ok pinhole=ok$/m)
      assert.match(holdPmp.output(), /^deleted mapping=ok pinhole=-$/m)
      await assertNothingLeft('after the holders stopped')
      assert.equal((await upnpPinholeExists(topo.clientNs, pinholeId, igd6)).exists, false)
      const relisten = await startTarget(upnpPort)
      try {
        assert.equal((await fromInternet(urls.upnp4)).ok, false, 'IPv4 reachable after the mapping was deleted')
        assert.equal((await fromInternet(urls.upnp6)).ok, false, 'IPv6 reachable after the pinhole was deleted')
      } finally {
        await relisten.stop()
      }
    } finally {
      await Promise.all([holdUpnp.stop(), holdPmp.stop(), control.stop()])
    }
  })

  it('IICP_SKIP_UPNP=1: the router sees no SSDP, SOAP or NAT-PMP from the probe (spec §7 item 27)', async () => {
    const { lab, topo } = ctx()
    const router = topo.miniupnpd
    assert.ok(router !== undefined)
    const talk = /SSDP M-SEARCH from|HTTP REQUEST from|NAT-PMP request received/g
    // Control: the router logs a default probe's discovery.
    let mark = router.mark()
    await runProbe(topo.clientNs, probeArgs(lab, topo, 9630))
    await router.waitFor(/SSDP M-SEARCH from/, 2000, mark)
    await router.waitFor(/NAT-PMP request received/, 2000, mark)
    mark = router.mark()
    const run = await runProbe(topo.clientNs, probeArgs(lab, topo, 9630), { IICP_SKIP_UPNP: '1' })
    assert.equal(run.report.inputs.upnp, false)
    assert.deepEqual(run.report.port_mapping.mappings, [])
    assert.deepEqual(router.since(mark).match(talk) ?? [], [], `miniupnpd saw traffic from a probe with IICP_SKIP_UPNP=1:\n${router.since(mark)}`)
  })

  it('CGNAT home router: probe --map never claims a router mapping (spec §7 item 15)', async t => {
    const { lab } = ctx()
    const cgnat = await lab.addTopology('cgnat')
    try {
      const run = await runProbe(cgnat.clientNs, ['--map', ...probeArgs(lab, cgnat, 9620)])
      const r = run.report
      const line = resultLine(cgnat, run, undefined, { mode: 'map' })
      t.diagnostic(line.slice(2))
      process.stdout.write(`${line}\n`)
      const context = `\n${line}\nport_mapping: ${JSON.stringify(r.port_mapping)}\nreachability: ${JSON.stringify(r.reachability_checks)}`
      assert.deepEqual(r.port_mapping.mappings, [], context)
      assert.equal(r.cgnat.detected, true, context)
      assert.equal(r.exposure_mode, 'ipv4_cgnat_blocked', context)
      assert.ok(!r.ladder.includes('upnp_mapped'), context)
      assert.equal(run.exitCode, 1, context)
      const list = await upnpList(cgnat.clientNs, { url: cgnat.igdUrl, anyIgd: true })
      assert.deepEqual(list.mappings, [], list.output)
    } finally {
      await lab.removeTopology(cgnat)
    }
  })
})
