/**
 * Direct paths in the NAT lab: coturn with `use-auth-secret` and two relays (one handing out
 * TURN, one STUN only) in the lab's internet namespace; per pair, a worker (`iicp-worker --echo`)
 * behind one topology and `iicp-connect` plus a load driver behind another. Used by
 * test/lab/direct-paths.test.ts (lean set) and test/ice/direct-matrix.ts (full pair matrix).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createLab, type Lab, SERVER_READY_MS } from '../lab/lab.ts'
import { execIn, flushConntrack, ipIn, nftIn, sysctlIn } from '../lab/namespaces.ts'
import type { LabProcess } from '../lab/processes.ts'
import type { Topology, TopologyName } from '../lab/topologies.ts'

/** The coturn instance of the direct-path lab (STUN and TURN on one port). */
export const TURN_HOST = '11.0.0.1'
export const TURN_PORT = 5478
/** Relays: with TURN on .3, STUN only on .4. */
const RELAY_WITH_TURN = '11.0.0.3'
const RELAY_STUN_ONLY = '11.0.0.4'
const RELAY_HTTP_PORT = 9584
const RELAY_ACCEPT_PORT = 9585
const CONNECT_PORT = 18080

/** Topologies in the pair matrix (`ipv6-open`: IPv4 port-restricted NAT plus routed IPv6). */
export const MATRIX_TOPOLOGIES: readonly TopologyName[] = ['public', 'full-cone', 'restricted-cone', 'port-restricted', 'symmetric', 'cgnat', 'ipv6-open']

/** A running direct-path lab. */
export interface DirectLab {
  readonly lab: Lab
  readonly turnSecret: string
  /** coturn's output so far (for diagnostics). */
  coturnLog: () => string
  close: () => Promise<void>
}

/** What one pair run produced. */
export interface PairResult {
  worker: TopologyName
  consumer: TopologyName
  turn: boolean
  /** The path new tasks took at the end. */
  path: string
  /** Milliseconds from the first task to the first direct/TURN channel, when there was one. */
  timeToDirectMs: number | null
  pair: string
  sent: number
  answered: number
  wrong: number
  paths: Record<string, number>
  errors: string[]
  fallbacks: number
  status: Record<string, unknown>
}

/** Is UDP hole punching expected to work between these two (the lab's ground truth)? */
export function punchable (a: TopologyName, b: TopologyName): boolean {
  const hard = (t: TopologyName): boolean => t === 'symmetric'
  const portFiltered = (t: TopologyName): boolean => t === 'port-restricted' || t === 'cgnat' || t === 'ipv6-open'
  if (a === 'ipv6-open' && b === 'ipv6-open') return true // IPv6 is routed and open
  if (hard(a) && (hard(b) || portFiltered(b))) return false
  if (hard(b) && portFiltered(a)) return false
  return true
}

/** The path a pair should end on. */
export function expectedPath (worker: TopologyName, consumer: TopologyName, turn: boolean): 'direct' | 'turn' | 'relay' {
  if (worker === 'udp-blocked' || consumer === 'udp-blocked') return 'relay'
  if (punchable(worker, consumer)) return 'direct'
  return turn ? 'turn' : 'relay'
}

/** Starts the lab's internet with coturn and the two relays. */
export async function startDirectLab (): Promise<DirectLab> {
  const lab = await createLab({ coturn: false, stun: false, reflector: false })
  const turnSecret = randomBytes(16).toString('hex')
  // Peers talk to each other, not only to the lab's servers: the internet namespace forwards
  // between topologies (it already routes every public LAN to its router).
  await sysctlIn(lab.inetNs, { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' })
  let coturn: ReturnType<Lab['start']> | undefined
  try {
    coturn = lab.start('coturn-auth', lab.inetNs, 'turnserver', [
      '-n', '--use-auth-secret', '--static-auth-secret', turnSecret, '--realm', 'iicp-lab',
      '-L', TURN_HOST, '--listening-port', String(TURN_PORT), '--relay-ip', TURN_HOST,
      '--min-port', '50000', '--max-port', '50999', '--no-tls', '--no-dtls', '--no-cli',
      // As in production: no relaying into private ranges. Here it also matters: a send to an
      // unroutable host candidate (192.168.1.2) fails, and coturn then closes the whole allocation.
      '--denied-peer-ip', '10.0.0.0-10.255.255.255', '--denied-peer-ip', '172.16.0.0-172.31.255.255',
      '--denied-peer-ip', '192.168.0.0-192.168.255.255', '--denied-peer-ip', '100.64.0.0-100.127.255.255',
      '--log-file', 'stdout', '--simple-log', '--pidfile', join(lab.tmpDir, 'turn-auth.pid'), '--db', join(lab.tmpDir, 'turn-auth.db')
    ])
    const relayArgs = (host: string, turn: boolean): string[] => [
      '--host', host, '--http-port', String(RELAY_HTTP_PORT), '--relay-port', String(RELAY_ACCEPT_PORT), '--no-reflector', '--log-level', 'warn',
      // coturn answers STUN on its TURN port; a TURN allocation reports the reflexive address too.
      ...(turn ? ['--turn-url', `turn:${TURN_HOST}:${TURN_PORT}`, '--turn-secret', turnSecret] : ['--stun-url', `stun:${TURN_HOST}:${TURN_PORT}`])
    ]
    const withTurn = lab.startNode('relay-turn', lab.inetNs, '../../relay/bin/iicp-relay.ts', relayArgs(RELAY_WITH_TURN, true))
    const stunOnly = lab.startNode('relay-stun', lab.inetNs, '../../relay/bin/iicp-relay.ts', relayArgs(RELAY_STUN_ONLY, false))
    await Promise.all([
      coturn.waitFor(/Total General servers|relay 11\.0\.0\.1 initialization done|IO method/, SERVER_READY_MS),
      withTurn.waitFor(/listening/, SERVER_READY_MS),
      stunOnly.waitFor(/listening/, SERVER_READY_MS)
    ])
  } catch (err) {
    await lab.close()
    throw err
  }
  const turnLog = coturn
  return { lab, turnSecret, coturnLog: () => turnLog.output(), close: async () => { await lab.close() } }
}

/** What {@link PairOptions.during} gets: both topologies and the pair's processes. */
export interface DuringPair {
  worker: Topology
  consumer: Topology
  connect: LabProcess
  workerProcess: LabProcess
  /** The load driver (it exits after printing its summary). */
  driver: LabProcess
}

/** Options of one pair run. */
export interface PairOptions {
  turn: boolean
  /** iicp-connect --turn-only (relay candidates only on the consumer side). */
  turnOnly?: boolean
  /** Load: `untilUpgradedMs` stops at the first direct/TURN path; otherwise `seconds` of load. */
  untilUpgradedMs?: number
  seconds?: number
  concurrency?: number
  /** Runs while the load runs (e.g. flush NAT state); the iicp-connect and worker processes log at level info. */
  during?: (ctx: DuringPair) => Promise<void>
}

/** Builds two topologies, runs worker, iicp-connect and the driver, and removes everything again. */
export async function runPair (dl: DirectLab, workerName: TopologyName, consumerName: TopologyName, o: PairOptions): Promise<PairResult> {
  const { lab } = dl
  const [w, c] = await Promise.all([lab.addTopology(workerName), lab.addTopology(consumerName)])
  try {
    await Promise.all([routeViaInternet(w), routeViaInternet(c)])
    const relayHost = o.turn ? RELAY_WITH_TURN : RELAY_STUN_ONLY
    const wid = `w-${workerName}-${consumerName}-${randomBytes(3).toString('hex')}`
    const worker = lab.startNode(`worker-${w.index}`, w.clientNs, '../../worker/bin/iicp-worker.ts', ['--relay', `${relayHost}:${RELAY_ACCEPT_PORT}`, '--worker-id', wid, '--echo', '--log-level', o.during === undefined ? 'warn' : 'info'])
    const connect = lab.startNode(`connect-${c.index}`, c.clientNs, '../../nat/bin/iicp-connect.ts', ['--relay', `http://${relayHost}:${RELAY_HTTP_PORT}`, '--worker', wid, '--listen', `127.0.0.1:${CONNECT_PORT}`, '--log-level', o.during === undefined ? 'warn' : 'info', ...(o.turnOnly === true ? ['--turn-only'] : [])])
    await Promise.all([worker.waitFor(/bound/, SERVER_READY_MS), connect.waitFor(/listening/, SERVER_READY_MS)])
    const driverArgs = ['--url', `http://127.0.0.1:${CONNECT_PORT}`, '--concurrency', String(o.concurrency ?? 1),
      ...(o.untilUpgradedMs === undefined ? ['--seconds', String(o.seconds ?? 3)] : ['--until-upgraded', String(o.untilUpgradedMs)])]
    const driver = lab.startNode(`driver-${c.index}`, c.clientNs, '../ice/bin/direct-driver.ts', driverArgs)
    if (o.during !== undefined) await o.during({ worker: w, consumer: c, connect, workerProcess: worker, driver })
    const line = await driver.waitFor(/^\{.*\}$/m, 120_000)
    const summary = JSON.parse(line[0]) as { sent: number, answered: number, wrong: number, paths: Record<string, number>, errors: string[], status: Record<string, unknown> }
    const status = summary.status
    const channel = status.channel as { pair?: { local: { type: string, address: string }, remote: { type: string, address: string } } | null } | null
    const pair = channel?.pair == null ? '-' : `${channel.pair.local.type}/${channel.pair.remote.type} ${channel.pair.local.address}->${channel.pair.remote.address}`
    return {
      worker: workerName,
      consumer: consumerName,
      turn: o.turn,
      path: String(status.path),
      timeToDirectMs: status.time_to_direct_ms as number | null,
      pair,
      sent: summary.sent,
      answered: summary.answered,
      wrong: summary.wrong,
      paths: summary.paths,
      errors: summary.errors,
      fallbacks: status.fallbacks as number,
      status
    }
  } finally {
    await Promise.all([lab.removeTopology(w), lab.removeTopology(c)])
  }
}

/** `conntrack -F` in every router of a topology: all its NAT mappings, UDP and TCP, are forgotten. */
export async function flushRouters (t: Topology): Promise<void> {
  for (const r of t.routerNs) await flushConntrack(r)
}

/** Drops all forwarded UDP in a topology's routers (the path stops answering) until {@link unblockUdp}. */
export async function blockUdp (t: Topology): Promise<void> {
  for (const r of t.routerNs) await nftIn(r, 'table inet iicp_udp_block {\n chain udp_drop {\n  type filter hook forward priority -10; policy accept;\n  meta l4proto udp drop\n }\n}\n')
}

/** Removes {@link blockUdp}'s rule. */
export async function unblockUdp (t: Topology): Promise<void> {
  for (const r of t.routerNs) await execIn(r, 'nft', ['delete', 'table', 'inet', 'iicp_udp_block'])
}

/** Gives a topology's edge router default routes into the lab internet, so it reaches other topologies' public LANs. */
async function routeViaInternet (t: Topology): Promise<void> {
  const edge = t.routerNs[t.routerNs.length - 1]
  if (edge === undefined) return
  await ipIn(edge, ['route', 'replace', 'default', 'via', TURN_HOST])
  await ipIn(edge, ['-6', 'route', 'replace', 'default', 'via', '2a00:11::1']).catch(() => undefined)
}
