/**
 * The NAT lab: an "internet" namespace (bridge `br0` with 11.0.0.0/8 and 2a00:11::/64, our STUN
 * server, the dial-back reflector and coturn as the judges' server) plus topologies attached to it.
 * Nothing in the lab has a route or link to the real network. `close()` stops exactly the PIDs the
 * lab started and deletes exactly the namespaces it created; an `exit` hook does the same
 * synchronously if a test process dies without closing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  COTURN_PORTS, INET_V4, INET_V4_PLEN, INET_V6, INET_V6_PLEN, REFLECTOR_PORT, REFLECTOR_DIAL_FROM_V4, REFLECTOR_DIAL_FROM_V6, REFLECTOR_V4, REFLECTOR_V6,
  REFLECTOR2_V4, REFLECTOR2_V6,
  STUN_ALTERNATE_V4, STUN_PORTS, STUN_PRIMARY_V4
} from './addresses.ts'
import { createNamespaceSet, ipIn, sysctlIn } from './namespaces.ts'
import type { NamespaceSet } from './namespaces.ts'
import { inNs, startProcess } from './processes.ts'
import type { LabProcess } from './processes.ts'
import { buildTopology } from './topologies.ts'
import type { LabContext, Topology, TopologyName } from './topologies.ts'

/** The internet bridge's MAC address (locally administered). */
const BRIDGE_MAC = '02:11:00:00:00:01'

/** Deadline for a lab server to print its "listening" line (generous: Node starts slowly on a loaded machine). */
export const SERVER_READY_MS = 30_000

/** Which servers the internet namespace runs. */
export interface LabOptions {
  /** Namespace prefix. @default a fresh `iicplab-<pid>-<rand>-` */
  prefix?: string
  /** coturn (`turnserver --stun-only`) on 11.0.0.1/11.0.0.2, ports 4478/4479. @default true */
  coturn?: boolean
  /** Our RFC 5780 STUN server (test/lab/bin/stun-server.ts) on 11.0.0.1/11.0.0.2, ports 3478/3479. @default true */
  stun?: boolean
  /** Our dial-back reflector (test/lab/bin/reflector.ts) on 11.0.0.3:8080 and [2a00:11::3]:8080. @default true */
  reflector?: boolean
}

/** A running lab. */
export interface Lab extends LabContext {
  readonly prefix: string
  /** coturn's primary `host:port`, when started. */
  readonly coturn: string | undefined
  /** Our STUN server's primary `host:port`, when started. */
  readonly stun: string | undefined
  /** The reflector's IPv4 base URL, when started. */
  readonly reflectorUrl: string | undefined
  /** The reflector's IPv6 base URL, when started. */
  readonly reflectorUrlV6: string | undefined
  /** The second reflector address's base URLs (IPv4, IPv6), when started. */
  readonly reflectorUrls2: { v4: string, v6: string } | undefined
  /** Builds a topology attached to the internet bridge. */
  addTopology: (name: TopologyName) => Promise<Topology>
  /** Stops the topology's processes and deletes its namespaces. */
  removeTopology: (t: Topology) => Promise<void>
  /** Starts a TypeScript script with this Node (`process.execPath`) inside a namespace. */
  startNode: (name: string, ns: string, script: string, args: readonly string[]) => LabProcess
  /** Every PID the lab currently owns. */
  pids: () => number[]
  /** Stops every lab process, deletes every lab namespace and the scratch directory. Idempotent. */
  close: () => Promise<void>
}

/** Absolute path of a file under test/lab/ (for scripts run inside namespaces). */
export function labFile (rel: string): string {
  return fileURLToPath(new URL(rel, import.meta.url))
}

const live = new Set<{ ns: NamespaceSet, procs: Map<LabProcess, string>, tmpDir: string }>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const l of live) {
      for (const p of l.procs.keys()) {
        try { process.kill(p.pid, 'SIGKILL') } catch { /* already gone */ }
      }
      l.ns.deleteAllSync()
      rmSync(l.tmpDir, { recursive: true, force: true })
    }
  })
}

/** Creates the internet namespace and starts the requested servers. On failure everything created so far is torn down. */
export async function createLab (opts: LabOptions = {}): Promise<Lab> {
  const ns = createNamespaceSet(opts.prefix)
  const procs = new Map<LabProcess, string>()
  const tmpDir = mkdtempSync(join(tmpdir(), ns.prefix))
  const entry = { ns, procs, tmpDir }
  live.add(entry)
  installExitHook()
  let nextIndex = 1
  let closing: Promise<void> | undefined

  const start = (name: string, where: string, cmd: string, args: readonly string[]): LabProcess => {
    const [c, a] = inNs(where, cmd, args)
    const p = startProcess(name, c, a)
    procs.set(p, where)
    return p
  }
  const startNode = (name: string, where: string, script: string, args: readonly string[]): LabProcess =>
    start(name, where, process.execPath, [labFile(script), ...args])

  const stopIn = async (namespaces: readonly string[]): Promise<void> => {
    const victims = [...procs].filter(([, where]) => namespaces.includes(where)).map(([p]) => p)
    await Promise.all(victims.map(async p => { await p.stop(); procs.delete(p) }))
  }

  const close = async (): Promise<void> => {
    closing ??= (async () => {
      try {
        await stopIn(ns.names())
      } finally {
        try {
          await ns.deleteAll()
        } finally {
          rmSync(tmpDir, { recursive: true, force: true })
          live.delete(entry)
        }
      }
    })()
    await closing
  }

  try {
    const inetNs = await ns.create('inet')
    await sysctlIn(inetNs, { 'net.ipv6.conf.all.accept_dad': '0', 'net.ipv6.conf.default.accept_dad': '0' })
    // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports, so it changes whenever a
    // topology is attached or removed and every router's ARP/ND entry for the servers goes stale.
    await ipIn(inetNs, ['link', 'add', 'br0', 'address', BRIDGE_MAC, 'type', 'bridge'])
    await ipIn(inetNs, ['link', 'set', 'br0', 'up'])
    for (const a of INET_V4) await ipIn(inetNs, ['addr', 'add', `${a}/${INET_V4_PLEN}`, 'dev', 'br0'])
    for (const a of INET_V6) await ipIn(inetNs, ['-6', 'addr', 'add', `${a}/${INET_V6_PLEN}`, 'dev', 'br0', 'nodad'])

    const ctx = { ns, inetNs, tmpDir, start }
    const ready: Array<Promise<unknown>> = []
    let coturn: string | undefined
    let stun: string | undefined
    let reflectorUrl: string | undefined
    let reflectorUrlV6: string | undefined
    let reflectorUrls2: { v4: string, v6: string } | undefined
    if (opts.coturn !== false) {
      const p = start('coturn', inetNs, 'turnserver', [
        '-n', '--no-auth', '--stun-only', '-L', STUN_PRIMARY_V4, '-L', STUN_ALTERNATE_V4,
        '--listening-port', String(COTURN_PORTS.primary), '--alt-listening-port', String(COTURN_PORTS.alternate),
        '--no-tls', '--no-dtls', '--no-cli', '--no-tcp', '--log-file', 'stdout', '--simple-log',
        '--pidfile', join(tmpDir, 'turnserver.pid'), '--db', join(tmpDir, 'turndb')
      ])
      ready.push(p.waitFor(/Total General servers/, SERVER_READY_MS))
      coturn = `${STUN_PRIMARY_V4}:${COTURN_PORTS.primary}`
    }
    if (opts.stun !== false) {
      const p = startNode('stun-server', inetNs, 'bin/stun-server.ts', [
        '--primary', `${STUN_PRIMARY_V4}:${STUN_PORTS.primary}`, '--alternate', `${STUN_ALTERNATE_V4}:${STUN_PORTS.alternate}`
      ])
      ready.push(p.waitFor(/^listening /m, SERVER_READY_MS))
      stun = `${STUN_PRIMARY_V4}:${STUN_PORTS.primary}`
    }
    if (opts.reflector !== false) {
      const hosts = [REFLECTOR_V4, REFLECTOR_V6, REFLECTOR2_V4, REFLECTOR2_V6].flatMap(h => ['--host', h])
      // It advertises our STUN server in GET /v1/nat/info (a probe given only --reflector uses it).
      const advertised = opts.stun === false ? [] : ['--stun', `${STUN_PRIMARY_V4}:${STUN_PORTS.primary}`, '--stun', `${STUN_ALTERNATE_V4}:${STUN_PORTS.alternate}`]
      const p = startNode('reflector', inetNs, 'bin/reflector.ts', [...hosts, '--port', String(REFLECTOR_PORT), '--dial-from', REFLECTOR_DIAL_FROM_V4, '--dial-from', REFLECTOR_DIAL_FROM_V6, ...advertised])
      ready.push(p.waitFor(/^listening (.|\n)*^listening (.|\n)*^listening (.|\n)*^listening /m, SERVER_READY_MS))
      reflectorUrl = `http://${REFLECTOR_V4}:${REFLECTOR_PORT}`
      reflectorUrlV6 = `http://[${REFLECTOR_V6}]:${REFLECTOR_PORT}`
      reflectorUrls2 = { v4: `http://${REFLECTOR2_V4}:${REFLECTOR_PORT}`, v6: `http://[${REFLECTOR2_V6}]:${REFLECTOR_PORT}` }
    }
    await Promise.all(ready)

    return {
      ...ctx,
      prefix: ns.prefix,
      coturn,
      stun,
      reflectorUrl,
      reflectorUrlV6,
      reflectorUrls2,
      startNode,
      addTopology: async (name: TopologyName) => {
        const n = nextIndex++
        const before = new Set(ns.names())
        try {
          return await buildTopology(ctx, name, n)
        } catch (err) {
          const created = ns.names().filter(x => !before.has(x))
          await stopIn(created)
          for (const x of created.reverse()) await ns.remove(x)
          throw err
        }
      },
      removeTopology: async (t: Topology) => {
        const mine = ns.names().filter(x => x.startsWith(`${ns.prefix}t${t.index}-`))
        await stopIn(mine)
        for (const x of mine.reverse()) await ns.remove(x)
      },
      pids: () => [...procs.keys()].map(p => p.pid),
      close
    }
  } catch (err) {
    await close()
    throw err
  }
}
