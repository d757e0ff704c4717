/**
 * `iicp-worker --auto` in the NAT lab: one worker per topology climbs the ladder against the real
 * reflector (11.0.0.3:8080), real relays in the internet namespace and the contract-faithful fake
 * directory with its production rules on (routability, registration dial-back). Each topology
 * ends with a consumer in the internet namespace completing a task through the endpoint the
 * worker REGISTERED. The fault test stops miniupnpd while the worker is mapped (relay within
 * 30 s, the in-flight task answered) and starts it again (back up after the shortened
 * hysteresis). Prints `# ladder-result …` lines with the time from start to registered.
 * Needs root and the lab binaries; skips otherwise. The full table: `npm run lab:ladder`.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { LAB_BASE_BINARIES, LAB_UPNP_BINARIES, labSkipReason } from '../helpers/lab-env.ts'
import { HOME_LAN, REFLECTOR_PORT, REFLECTOR_V4, REFLECTOR_V6, STUN_PORTS, STUN_PRIMARY_V4 } from './addresses.ts'
import { SERVER_READY_MS, createLab, labFile, type Lab } from './lab.ts'
import { startMiniupnpd } from './miniupnpd.ts'
import { inNs, run } from './processes.ts'
import type { LabProcess } from './processes.ts'
import type { Topology, TopologyName } from './topologies.ts'

const SKIP = labSkipReason([...LAB_BASE_BINARIES, ...LAB_UPNP_BINARIES])
const WORKER_BIN = fileURLToPath(new URL('../../worker/bin/iicp-worker.ts', import.meta.url))
const RELAY_BIN = fileURLToPath(new URL('../../relay/bin/iicp-relay.ts', import.meta.url))
/** Relays in the internet namespace (the STUN addresses; TCP ports are free there). */
const RELAYS = ['11.0.0.1', '11.0.0.2'] as const
const DIRECTORY = { host: '11.0.0.4', port: 8081 }
const FULL = process.env.IICP_LAB_LADDER_FULL === '1'
/** `IICP_LAB_LADDER_ONLY=upnp-symmetric,public` runs only these rows (one topology at a time while developing). */
const ONLY = process.env.IICP_LAB_LADDER_ONLY?.split(',')

/** What a worker's registration said. */
interface Registered { endpoint: string, transport_method: string, exposure_mode: string, nat_type: string, transport_metadata: Record<string, unknown> }

/** The topology table: expected rung and transport method. */
const TABLE: Array<{ name: TopologyName, method: string, endpoint: RegExp, full?: boolean }> = [
  { name: 'public', method: 'direct', endpoint: /^http:\/\/12\.0\.\d+\.2:9484$/ },
  { name: 'upnp', method: 'upnp_mapped', endpoint: /^http:\/\/11\.0\.\d+\.10:9484$/ },
  { name: 'port-restricted', method: 'turn_relay', endpoint: /^http:\/\/11\.0\.0\.[12]:9484\/v1\/relay-for\// },
  { name: 'cgnat', method: 'turn_relay', endpoint: /\/v1\/relay-for\// },
  { name: 'ipv6-open', method: 'direct', endpoint: /^http:\/\/\[2a00:12:0:[0-9a-f]+::2\]:9484$/ },
  { name: 'symmetric', method: 'turn_relay', endpoint: /\/v1\/relay-for\//, full: true },
  { name: 'udp-blocked', method: 'turn_relay', endpoint: /\/v1\/relay-for\//, full: true },
  { name: 'upnp-full-cone', method: 'upnp_mapped', endpoint: /^http:\/\/11\.0\.\d+\.10:9484$/, full: true },
  { name: 'upnp-symmetric', method: 'upnp_mapped', endpoint: /^http:\/\/11\.0\.\d+\.10:9484$/, full: true },
]

describe('NAT lab: iicp-worker --auto climbs, keeps and registers its rung', { skip: SKIP ?? false }, () => {
  let lab: Lab | undefined
  let directory: LabProcess | undefined
  const dirUrl = `http://${DIRECTORY.host}:${DIRECTORY.port}/api`

  before(async () => {
    lab = await createLab({ coturn: false })
    const l = lab
    directory = l.startNode('fake-directory', l.inetNs, 'bin/fake-directory.ts', ['--host', DIRECTORY.host, '--port', String(DIRECTORY.port)])
    const relays = RELAYS.map((host, i) => l.start(`relay-${i}`, l.inetNs, process.execPath, [RELAY_BIN, '--host', host, '--http-port', '9484', '--relay-port', '9485', '--log-level', 'warn']))
    await Promise.all([directory.waitFor(/^listening /m, SERVER_READY_MS), ...relays.map(async r => await r.waitFor(/iicp-relay listening/, SERVER_READY_MS))])
  })
  after(async () => { await lab?.close() })

  /** Starts `iicp-worker --auto` in the topology's client namespace. */
  const startWorker = (topo: Topology, id: string, extra: string[] = []): LabProcess => {
    assert.ok(lab !== undefined)
    // No --gateway: the worker finds the router by SSDP and NAT-PMP, as at home (and after miniupnpd restarts on a new port).
    return lab.start(`worker(${id})`, topo.clientNs, process.execPath, [
      WORKER_BIN, '--auto', '--worker-id', id, '--relay', RELAYS.map(r => `${r}:9485`).join(','),
      '--reflector', `http://${REFLECTOR_V4}:${REFLECTOR_PORT}`, '--reflector', `http://[${REFLECTOR_V6}]:${REFLECTOR_PORT}`,
      '--stun', `${STUN_PRIMARY_V4}:${STUN_PORTS.primary}`, '--directory', dirUrl, '--log-level', 'warn',
      // Generous deadlines: the lab shares two cores with everything else.
      '--map-timeout', '5', '--verify-timeout', '6', ...(extra.includes('--backend') ? [] : ['--echo']), ...extra
    ])
  }

  /** Waits for the directory's next accepted register of `id` after output position `from`; returns it and the position after it. */
  const registered = async (id: string, timeoutMs: number, from = 0): Promise<{ reg: Registered, next: number }> => {
    assert.ok(directory !== undefined)
    const m = await directory.waitFor(new RegExp(`^POST /api/v1/register 201 (\\{.*"node_id":"${id}".*\\})$`, 'm'), timeoutMs, from)
    return { reg: JSON.parse(m[1] ?? '{}') as Registered, next: from + (m.index ?? 0) + m[0].length }
  }

  /** A consumer in the internet namespace posts a task to `endpoint`. */
  const consume = async (endpoint: string, payload: unknown, timeoutMs = 10_000): Promise<string> => {
    assert.ok(lab !== undefined)
    const [cmd, args] = inNs(lab.inetNs, process.execPath, [labFile('bin/post-task.ts'), endpoint, JSON.stringify(payload), String(timeoutMs)])
    const r = await run(cmd, args, { timeoutMs: timeoutMs + 5000 })
    return r.stdout.trim()
  }

  const rows = TABLE.filter(t => ONLY?.includes(t.name) ?? (FULL || t.full !== true))
  it(`each topology registers its expected rung and a consumer completes a task through it (${rows.map(r => r.name).join(', ')})`, async () => {
    assert.ok(lab !== undefined)
    const l = lab
    // Topologies build one after another (namespace setup), workers then climb in parallel.
    const topos: Topology[] = []
    for (const row of rows) topos.push(await l.addTopology(row.name))
    const results = await Promise.all(rows.map(async (row, i) => {
      const topo = topos[i] as Topology
      const id = `w-${row.name}`
      const started = performance.now()
      const worker = startWorker(topo, id)
      try {
        const { reg } = await registered(id, 45_000).catch((err: unknown) => { throw new Error(`${row.name}: ${(err as Error).message.split('\n')[0] ?? ''}\nworker output:\n${worker.output()}`) })
        const ms = Math.round(performance.now() - started)
        const answer = await consume(reg.endpoint, { from: row.name })
        return { row, reg, ms, answer, out: worker.output() }
      } finally {
        await worker.stop()
      }
    }))
    for (const { row, reg, ms, answer, out } of results) {
      const took = /^state: \S+ \S+ \(([^)]*)\)$/m.exec(out)?.[1] ?? '?'
      process.stdout.write(`# ladder-result ${row.name}: ${reg.transport_method} ${reg.endpoint} exposure=${reg.exposure_mode} nat_type=${reg.nat_type}; spawn to registered ${ms} ms (worker: ${took}); task: ${answer.slice(0, 60)}\n`)
      assert.equal(reg.transport_method, row.method, `${row.name}\n${out}`)
      assert.match(reg.endpoint, row.endpoint, row.name)
      assert.match(answer, /^status 200 .*"status":"completed".*"echo":\{"from":/, `${row.name}: ${answer}`)
    }
  })

  it('fault: miniupnpd stops while mapped → relay within 30 s, the in-flight task answered; miniupnpd back → up again after the hysteresis', async () => {
    assert.ok(lab !== undefined)
    const l = lab
    const topo = await l.addTopology('upnp')
    const backend = l.startNode('slow-backend', topo.clientNs, 'bin/slow-backend.ts', ['--port', '9700'])
    await backend.waitFor(/^listening /m, SERVER_READY_MS)
    const id = 'w-fault'
    const worker = startWorker(topo, id, ['--backend', 'http://127.0.0.1:9700', '--lease', '4', '--recheck-every', '2', '--up-probe-every', '1', '--up-spacing', '3', '--up-cooldown', '5'])
    try {
      const first = await registered(id, 20_000)
      assert.equal(first.reg.transport_method, 'upnp_mapped', worker.output())
      // A task that takes 3 s is in flight on the mapped rung when the router's UPnP daemon goes away.
      const inFlight = consume(first.reg.endpoint, { delay_ms: 3000 })
      await backend.waitFor(/^task delay_ms=3000$/m, 15_000)
      const stoppedAt = performance.now()
      await topo.miniupnpd?.stop()
      // A stopped miniupnpd leaves its nft rules behind; drop them as a router restart does (established connections stay).
      for (const chain of ['miniupnpd', 'prerouting_miniupnpd', 'postrouting_miniupnpd']) await run(...inNs(topo.routerNs[0] ?? '', 'nft', ['flush', 'chain', 'inet', 'filter', chain]), { timeoutMs: 5000 })
      const down = await registered(id, 30_000, first.next)
      const downMs = Math.round(performance.now() - stoppedAt)
      assert.equal(down.reg.transport_method, 'turn_relay', worker.output())
      assert.match(await inFlight, /^status 200 .*"slept_ms":3000/)
      assert.match(await consume(down.reg.endpoint, { delay_ms: 0 }), /^status 200 /)
      const restartedAt = performance.now()
      await startMiniupnpd(l, topo.routerNs[0] ?? '', { lanNet: `${HOME_LAN.net}`, tag: `t${topo.index}-again` })
      const up = await registered(id, 30_000, down.next)
      const upMs = Math.round(performance.now() - restartedAt)
      assert.equal(up.reg.transport_method, 'upnp_mapped', worker.output())
      assert.match(await consume(up.reg.endpoint, { delay_ms: 0 }), /^status 200 /)
      process.stdout.write(`# ladder-result fault: upnp_mapped -> turn_relay re-registered ${downMs} ms after miniupnpd stopped (in-flight task answered); turn_relay -> upnp_mapped ${upMs} ms after it restarted (up spacing 3 s)\n`)
      process.stdout.write(`# ladder-result fault transitions:\n${worker.output().split('\n').filter(x => /^(✓|✗|state:)/.test(x)).map(x => `#   ${x}`).join('\n')}\n`)
    } finally {
      await worker.stop()
      await backend.stop()
    }
  })
})
