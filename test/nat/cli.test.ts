/**
 * `iicp-nat` spawned as a real process: loopback STUN (127.0.0.2/127.0.0.3) and reflector,
 * `--no-upnp --no-v6` so nothing leaves loopback.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ProbeReport } from '../../nat/index.ts'
import { parseProbeArgs } from '../../nat/cli.ts'
import { startFakeIgd } from '../helpers/nat-fake-igd.ts'
import { withLoopbackServers } from '../helpers/nat-loopback-servers.ts'

const CLI = fileURLToPath(new URL('../../nat/bin/iicp-nat.ts', import.meta.url))

async function run (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number | null>(resolve => child.on('exit', c => { resolve(c) }))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

describe('iicp-nat CLI', () => {
  it('probe --json on loopback prints iicp-nat-probe/v1; the loopback dial-back proves local reachability only (exit 1)', async () => {
    await withLoopbackServers(async (stun, reflector) => {
      const r = await run(['probe', '--json', '--no-upnp', '--no-v6', '--port', '0', '--stun', stun, '--reflector', reflector])
      assert.equal(r.code, 1, r.stderr)
      const report = JSON.parse(r.stdout) as ProbeReport
      assert.equal(report.schema, 'iicp-nat-probe/v1')
      assert.equal(report.nat_behavior.mapping, 'none')
      assert.equal(report.nat_type, 'direct')
      assert.equal(report.exposure_mode, 'outbound_only')
      assert.equal(report.verification, 'self_attested')
      assert.equal(report.exit_code, 1)
      assert.equal(report.reachability_checks[0]?.reachable, true)
      assert.equal(report.reachability_checks[0]?.counted_as, 'local_only')
      assert.deepEqual(report.inputs.stun_servers, [stun])
      assert.equal(report.inputs.upnp, false)
      assert.equal(report.port_mapping.protocol, null)
      assert.ok(report.duration_ms < 3000)
    })
  })

  it('probe --map against a loopback fake IGD (explicit --gateway, no multicast, no NAT-PMP) maps, reaches (locally: exit 2) and deletes', async () => {
    const igd = await startFakeIgd({ externalIp: '11.0.0.10' })
    try {
      await withLoopbackServers(async (_stun, reflector) => {
        const r = await run(['probe', '--json', '--map', '--no-stun', '--no-natpmp', '--no-v6', '--port', '0', '--gateway', igd.location, '--reflector', reflector])
        assert.equal(r.code, 2, r.stderr)
        const report = JSON.parse(r.stdout) as ProbeReport
        assert.equal(report.port_mapping.protocol, 'upnp-igd')
        assert.equal(report.port_mapping.mappings[0]?.deleted, true)
        assert.equal(report.port_mapping.mappings[0]?.verified, true)
        assert.equal(report.recommended_transport_method, 'upnp_mapped')
        assert.equal(igd.mappings.size, 0)
        assert.deepEqual(igd.searches, [], 'no SSDP search was sent')
      })
    } finally {
      await igd.close()
    }
  })

  it('human output has one line per probe and a summary; no reflector means not verified', async () => {
    await withLoopbackServers(async stun => {
      const r = await run(['probe', '--no-upnp', '--no-v6', '--port', '0', '--stun', stun])
      assert.ok(r.code === 1 || r.code === 2, `exit ${String(r.code)}: ${r.stderr}`)
      assert.match(r.stdout, /✓ stun {12}mapped 127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+ \(rfc5780\); mapping none/)
      assert.match(r.stdout, /○ port mapping {4}disabled \(--no-upnp\)/)
      assert.match(r.stdout, /○ reflector/)
      assert.match(r.stdout, /\nsummary\n {2}exposure mode {3}\w+ \(self-attested\)/)
      assert.match(r.stdout, / {2}NAT type {8}direct/)
      assert.match(r.stdout, / {2}ladder {10}.*turn_relay/)
    })
  })

  it('usage errors exit 3 with one line on stderr', async () => {
    // Every case also carries flags under which a wrongly accepted probe would send nothing at all.
    const safe = ['--no-upnp', '--no-stun', '--no-v6']
    const cases: string[][] = [
      ['probe', '--bogus', ...safe],
      ['probe', '--keep', ...safe],
      ['probe', '--stun', '0x7f.1:3478', '--no-upnp', '--no-v6'],
      ['probe', '--reflector', 'ftp://x', ...safe],
      ['probe', '--port', '70000', ...safe],
      ['probe', '--timeout', 'soon', ...safe],
      ['probe', '--log-level', 'loud', ...safe],
      ['probe', '--map', ...safe],
      ['frobnicate'],
      []
    ]
    for (const args of cases) {
      const r = await run(args)
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '', args.join(' '))
      assert.match(r.stderr, /iicp-nat: |Usage: iicp-nat/, args.join(' '))
    }
  })

  it('--help and --version exit 0', async () => {
    const help = await run(['probe', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Usage: iicp-nat probe/)
    assert.match(help.stdout, /--no-upnp/)
    const top = await run(['--help'])
    assert.equal(top.code, 0)
    assert.match(top.stdout, /Commands:/)
    const version = await run(['--version'])
    assert.equal(version.code, 0)
    assert.match(version.stdout, /^iicp-nat \d+\.\d+\.\d+/)
  })

  it('flags and environment fallbacks map to probe options (parsed in process, nothing is sent)', () => {
    const skip = parseProbeArgs(['--no-v6'], { IICP_SKIP_UPNP: '1' })
    assert.equal(skip?.upnp, false)
    const o = parseProbeArgs(['--stun', '[::1]', '--stun', 'stun.example.org:19302', '--reflector', 'http://127.0.0.1:1', '--map', '--keep', '--lease', '60', '--port', '0', '--timeout', '1.5', '--gateway', 'http://192.168.1.1:5000/rootDesc.xml', '--interface', 'eth0', '--json'], {})
    assert.deepEqual(o?.stunServers, [{ host: '::1', port: 3478, family: 6 }, { host: 'stun.example.org', port: 19302 }])
    assert.deepEqual(o?.reflectors, ['http://127.0.0.1:1'])
    assert.equal(o?.map, true)
    assert.equal(o?.keep, true)
    assert.equal(o?.leaseSeconds, 60)
    assert.equal(o?.port, 0)
    assert.equal(o?.timeoutMs, 1500)
    assert.deepEqual(o?.gateways, ['http://192.168.1.1:5000/rootDesc.xml'])
    assert.equal(o?.interface, 'eth0')
    assert.equal(o?.json, true)
    assert.equal(o?.logLevel, 'warn')
    const env = parseProbeArgs([], { IICP_NAT_STUN: '127.0.0.2:3478,127.0.0.3:3479', IICP_NAT_REFLECTOR: 'https://relay.example', IICP_NAT_PORT: '9500' })
    assert.deepEqual(env?.stunServers?.map(s => s.port), [3478, 3479])
    assert.deepEqual(env?.reflectors, ['https://relay.example'])
    assert.equal(env?.port, 9500)
    const usage3 = (re: RegExp) => (err: unknown): boolean => (err as { details?: { exitCode?: number } }).details?.exitCode === 3 && re.test((err as Error).message)
    assert.throws(() => parseProbeArgs(['--lease', '60'], {}), usage3(/--lease needs --map/))
    assert.throws(() => parseProbeArgs(['--gateway', 'http://router.lan/rootDesc.xml'], {}), usage3(/IP literal host/))
    assert.throws(() => parseProbeArgs(['--gateway', 'router.lan'], {}), usage3(/--gateway must be/))
    assert.throws(() => parseProbeArgs(['--stun', '1.2.3.4', '--no-stun'], {}), usage3(/exclude each other/))
    assert.throws(() => parseProbeArgs(['--interface', 'bad name'], {}), usage3(/--interface/))
  })
})
