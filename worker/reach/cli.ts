/**
 * `iicp-worker --auto`: makes the worker reachable by whichever way works (direct, UPnP/NAT-PMP
 * mapping, relay), keeps it so, and tells the directory. One line per rung tried
 * (`✓ direct ipv4 http://203.0.113.5:9484 verified`, `✗ upnp no IGD answered in 2 s`,
 * `✓ relay relay-2.example:9485 bound`), then the state, and later changes in the same style;
 * `--json` prints one JSON object per line instead. `--supervised` exits 75 after
 * `--give-up-after` without any rung (nat-module.md §2.5 step 9). The NAT capabilities come from
 * the composer (worker/bin/iicp-worker.ts).
 */
import { boolFlag, hostPortFlag, intFlag, listFlag, parseFlags, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { DEFAULT_RELAY_ACCEPT_PORT, WORKER_MAX_CONCURRENT } from '../../src/limits.ts'
import { createLogger, isLogLevel, type Logger } from '../../src/log.ts'
import type { ReachCapabilities } from '../../src/reach/capabilities.ts'
import { DEFAULT_LADDER_TIMINGS } from './ladder.ts'
import { createReachNode, type ReachNodeOptions } from './node.ts'
import type { RelayCandidate } from './relay-choice.ts'
import { parseRelayList } from '../relay-list.ts'

/** Exit code of a supervised worker that found no working rung (EX_TEMPFAIL; systemd/launchd restart it). */
export const EXIT_GIVE_UP = 75

const NAME = 'iicp-worker'
const SYNOPSIS = `Usage: ${NAME} --auto --worker-id ID (--backend URL | --echo) [--relay HOST:PORT,…] [--directory URL] [options]

Makes the worker reachable by the first way a dial-back reflector verifies: direct (a public
address on this host, served on --port), upnp_mapped (a UPnP-IGD / NAT-PMP mapping of --port and
an IPv6 pinhole), or relay (bound to a relay from --relay or elected from --directory). Keeps
re-checking it, moves down at once when it fails and up after two verifications, and registers
every change with the directory.`

const FLAGS: FlagSpec[] = [
  { name: 'auto', type: 'boolean', description: 'climb the reachability ladder (this mode)' },
  { name: 'worker-id', type: 'string', valueName: 'ID', env: 'IICP_WORKER_ID', description: 'node id (directory node_id and relay worker id)' },
  { name: 'backend', type: 'string', valueName: 'URL', env: 'IICP_BACKEND_URL', description: 'local HTTP backend; tasks go to URL/v1/task' },
  { name: 'echo', type: 'boolean', description: 'answer every task with {"result":{"echo": <task.payload>}}' },
  { name: 'port', type: 'string', valueName: 'N', env: 'IICP_PORT', description: 'port of the worker\'s own HTTP front (default 9484)' },
  { name: 'host', type: 'string', valueName: 'IP', description: 'listen address of the front (default ::)' },
  { name: 'relay', type: 'string', multiple: true, valueName: 'HOST:PORT,…', env: 'IICP_RELAY_WORKER_ENDPOINT', description: `relays for the relay rung, tried in random order (port defaults to ${DEFAULT_RELAY_ACCEPT_PORT})` },
  { name: 'directory', type: 'string', valueName: 'URL', env: 'IICP_DIRECTORY_URL', description: 'directory base (e.g. https://directory.example/api): register, heartbeat, relay election' },
  { name: 'node-token', type: 'string', valueName: 'TOKEN', env: 'IICP_NODE_TOKEN', description: 'token of an earlier registration', secret: true },
  { name: 'reflector', type: 'string', multiple: true, valueName: 'URL', description: 'dial-back reflector (default: the relays\' HTTP fronts)' },
  { name: 'stun', type: 'string', multiple: true, valueName: 'IP:PORT', description: 'STUN server for the NAT type sent to the directory' },
  { name: 'gateway', type: 'string', multiple: true, valueName: 'URL|IP', description: 'router to map on (IGD description URL or IP) instead of discovery' },
  { name: 'intent', type: 'string', valueName: 'URN', env: 'IICP_INTENT', description: 'intent (default urn:iicp:intent:llm:chat:v1)' },
  { name: 'model', type: 'string', multiple: true, valueName: 'MODEL', env: 'IICP_MODELS', description: 'model served' },
  { name: 'region', type: 'string', valueName: 'REGION', env: 'IICP_REGION', description: 'region sent to the directory (default unknown)' },
  { name: 'supervised', type: 'boolean', env: 'IICP_SUPERVISED', description: `exit ${EXIT_GIVE_UP} after --give-up-after without any working rung` },
  { name: 'give-up-after', type: 'string', valueName: 'S', description: 'seconds without a rung before a supervised exit (default 600)' },
  { name: 'recheck-every', type: 'string', valueName: 'S', description: 're-verify the serving rung this often (default 600)' },
  { name: 'up-probe-every', type: 'string', valueName: 'S', description: 'try the higher rungs this often (default 120)' },
  { name: 'up-spacing', type: 'string', valueName: 'S', description: 'two verifications of a higher rung this far apart before moving up (default 60)' },
  { name: 'up-cooldown', type: 'string', valueName: 'S', description: 'at most one up move per this period (default 600)' },
  { name: 'retry-every', type: 'string', valueName: 'S', description: 'with no rung, climb again this often (default 10)' },
  { name: 'lease', type: 'string', valueName: 'S', description: 'router lease requested, renewed at half (default 3600)' },
  { name: 'map-timeout', type: 'string', valueName: 'S', description: 'deadline of a router mapping, discovery included (default 2)' },
  { name: 'verify-timeout', type: 'string', valueName: 'S', description: 'deadline of one reflector dial-back check (default 3)' },
  { name: 'heartbeat-every', type: 'string', valueName: 'S', description: 'directory heartbeat period (default 30)' },
  { name: 'max-concurrent', type: 'string', valueName: 'N', env: 'IICP_MAX_CONCURRENT', description: `tasks run at once (default ${WORKER_MAX_CONCURRENT})` },
  { name: 'json', type: 'boolean', description: 'one JSON object per line on stdout instead of text' },
  { name: 'log-level', type: 'string', valueName: 'LEVEL', env: 'IICP_LOG_LEVEL', description: 'fatal|error|warn|info|debug|trace|silent (default warn)' }
]

/** Builds the NAT capabilities (the composer passes nat/'s). */
export type CapabilityFactory = (o: { gateways: string[], stun: Array<{ host: string, port: number }>, logger: Logger }) => ReachCapabilities

const echo: NonNullable<ReachNodeOptions['handler']> = task => ({ result: { echo: (task as { payload?: unknown } | null)?.payload ?? null } })

/** `--relay a:9485,b:9485` (repeatable) with the worker's one relay-list parser (worker/relay-list.ts). */
function relayList (values: FlagValues): RelayCandidate[] {
  try {
    return listFlag(values, 'relay').flatMap(v => parseRelayList(v, DEFAULT_RELAY_ACCEPT_PORT))
  } catch (err) {
    throw usageError(`--relay must be HOST:PORT[,HOST:PORT…]: ${(err as Error).message}`)
  }
}

function nodeOptions (values: FlagValues, logger: Logger, caps: CapabilityFactory): ReachNodeOptions {
  const nodeId = stringFlag(values, 'worker-id')
  if (nodeId === undefined) throw usageError('--worker-id is required (or IICP_WORKER_ID)')
  const backend = boolFlag(values, 'echo') ? undefined : stringFlag(values, 'backend')
  if (boolFlag(values, 'echo') === (backend !== undefined)) throw usageError('give exactly one of --backend URL and --echo')
  const relays = relayList(values)
  const directory = stringFlag(values, 'directory')
  if (relays.length === 0 && directory === undefined) throw usageError('give --relay HOST:PORT (list) or --directory URL, so the relay rung has relays')
  const stun = listFlag(values, 'stun').map(s => hostPortFlag(s, 'stun', { defaultPort: 3478 }))
  const d = DEFAULT_LADDER_TIMINGS
  const token = stringFlag(values, 'node-token')
  const region = stringFlag(values, 'region')
  return {
    nodeId,
    ...(backend === undefined ? { handler: echo } : { backendUrl: backend }),
    port: intFlag(values, 'port', 9484, 0, 65535),
    host: stringFlag(values, 'host') ?? '::',
    intent: stringFlag(values, 'intent') ?? 'urn:iicp:intent:llm:chat:v1',
    models: listFlag(values, 'model').flatMap(m => m.split(',')).filter(m => m !== ''),
    relays,
    reflectors: listFlag(values, 'reflector'),
    ...(directory === undefined ? {} : { directory: { url: directory, ...(token === undefined ? {} : { nodeToken: token }), ...(region === undefined ? {} : { payload: { region } }) } }),
    capabilities: caps({ gateways: listFlag(values, 'gateway'), stun: stun.map(s => ({ host: s.host, port: s.port })), logger }),
    supervised: boolFlag(values, 'supervised'),
    timings: {
      giveUpAfterMs: secondsFlag(values, 'give-up-after', d.giveUpAfterMs, 0.1, 86_400),
      recheckMs: secondsFlag(values, 'recheck-every', d.recheckMs, 0.1, 86_400),
      upProbeMs: secondsFlag(values, 'up-probe-every', d.upProbeMs, 0.1, 86_400),
      upMinSpacingMs: secondsFlag(values, 'up-spacing', d.upMinSpacingMs, 0, 86_400),
      upCooldownMs: secondsFlag(values, 'up-cooldown', d.upCooldownMs, 0, 86_400),
      retryMs: secondsFlag(values, 'retry-every', d.retryMs, 0.1, 3600)
    },
    leaseSeconds: Math.max(1, Math.round(secondsFlag(values, 'lease', 3_600_000, 1, 86_400) / 1000)),
    heartbeatMs: secondsFlag(values, 'heartbeat-every', 30_000, 0.1, 3600),
    mapTimeoutMs: secondsFlag(values, 'map-timeout', 2000, 0.1, 60),
    verifyTimeoutMs: secondsFlag(values, 'verify-timeout', 3000, 0.1, 60),
    maxConcurrent: intFlag(values, 'max-concurrent', WORKER_MAX_CONCURRENT, 1, 100_000),
    logger
  }
}

/**
 * The `--auto` program: runs until SIGTERM/SIGINT (exit 0 after deregistering and releasing the
 * rung), or exits 75 when supervised and no rung worked for `--give-up-after`.
 */
export async function autoMain (argv: string[], env: NodeJS.ProcessEnv, caps: CapabilityFactory): Promise<number> {
  const values = parseFlags(NAME, SYNOPSIS, FLAGS, argv, env)
  if (values === undefined) return 0
  const level = stringFlag(values, 'log-level') ?? 'warn'
  if (!isLogLevel(level)) throw usageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${level}"`)
  const logger = createLogger({ level, name: NAME, fd: 2 })
  const json = boolFlag(values, 'json')
  const out = (text: string, obj: Record<string, unknown>): void => {
    process.stdout.write(json ? `${JSON.stringify({ time: new Date().toISOString(), ...obj })}\n` : `${text}\n`)
  }
  const node = await createReachNode(nodeOptions(values, logger, caps))
  node.on('line', l => { out(`${l.ok ? '✓' : '✗'} ${l.text}`, { event: 'rung', ok: l.ok, text: l.text }) })
  let climbStart = 0
  node.on('change', t => {
    // The first state line says how long reaching and registering took (process start, and the climb alone).
    const took = t.from === null && t.reason === 'start' ? ` (${(performance.now() / 1000).toFixed(1)} s after start, climb ${((performance.now() - climbStart) / 1000).toFixed(1)} s)` : ''
    out(t.to === null ? `state: unreachable (${t.reason})` : `state: ${t.to} ${t.endpoint ?? ''}${t.from === null ? took : ` (was ${t.from}: ${t.reason})`}`,
      { event: 'state', ...t, ...(took === '' ? {} : { since_start_ms: Math.round(performance.now()), climb_ms: Math.round(performance.now() - climbStart) }) })
  })
  return await new Promise<number>(resolve => {
    const finish = (code: number): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      void node.stop().then(() => { resolve(code) })
    }
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping')
      finish(0)
    }
    node.once('give-up', () => {
      out(`✗ no rung worked; exiting ${EXIT_GIVE_UP} so the supervisor restarts`, { event: 'give-up', exit: EXIT_GIVE_UP })
      finish(EXIT_GIVE_UP)
    })
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    climbStart = performance.now()
    void node.start()
  })
}
