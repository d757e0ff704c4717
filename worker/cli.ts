/**
 * `iicp-worker`: runs a relay worker from the command line. Flags fall back to the upstream
 * `IICP_…` environment variables; one line on stdout per bind, JSON logs on stderr;
 * SIGTERM/SIGINT stop the worker gracefully and exit 0.
 */
import { boolFlag, intFlag, listFlag, LOG_FORMAT_FLAG, logFormatFlag, parseFlags, stringFlag, usageError, type FlagSpec, type FlagValues } from '../src/cli/args.ts'
import { errorMessage } from '../src/errors.ts'
import { formatHostPort } from '../src/host-port.ts'
import { DEFAULT_RELAY_ACCEPT_PORT, WORKER_MAX_CONCURRENT } from '../src/limits.ts'
import { createLogger, isLogLevel, type CreateLoggerOptions, type LogFormat } from '../src/log.ts'
import type { TaskHandler, WorkerOptions } from './options.ts'
import { relayListFromFlag, type RelayEntry } from './relay-list.ts'
import { createWorker } from './worker.ts'
import { DIRECT_FLAGS, directOptionsFromFlags } from './direct/cli-flags.ts'
import { TRANSPORT_FLAGS, relayFromFlags } from './transports/cli-flags.ts'

const NAME = 'iicp-worker'
const SYNOPSIS = `Usage: ${NAME} --relay HOST:PORT --worker-id ID (--backend URL | --echo) [options]

Dials an IICP relay, binds ID, and serves the tasks consumers POST to
http://<relay>:<http port>/v1/relay-for/ID/v1/task, either on a local HTTP backend
(POST <backend>/v1/task) or with a built-in echo handler.

With --auto the worker instead makes itself reachable by whichever way works (its own
HTTP front directly, through a UPnP/NAT-PMP mapping, or through a relay), keeps it so and
registers it with the directory: \`${NAME} --auto --help\` lists those flags.`

const FLAGS: FlagSpec[] = [
  { name: 'relay', type: 'string', valueName: 'ADDRESS', env: 'IICP_RELAY_WORKER_ENDPOINT', description: `HOST:PORT (TCP, port defaults to ${DEFAULT_RELAY_ACCEPT_PORT}), iicpsec://HOST:PORT (TLS), wss://HOST/PATH (WebSocket) or https://HOST (long-poll)` },
  { name: 'relay-all-addresses', type: 'boolean', env: 'IICP_RELAY_ALL_ADDRESSES', description: 'a relay fleet behind one name: spread over every address --relay resolves to (a comma-separated --relay list is a fleet too)' },
  ...TRANSPORT_FLAGS,
  { name: 'worker-id', type: 'string', valueName: 'ID', env: 'IICP_WORKER_ID', description: 'worker id to bind' },
  { name: 'intent', type: 'string', valueName: 'URN', env: 'IICP_INTENT', description: 'intent sent in RELAY_BIND' },
  { name: 'model', type: 'string', multiple: true, valueName: 'MODEL', env: 'IICP_MODELS', description: 'model sent in RELAY_BIND (env: comma-separated)' },
  { name: 'backend', type: 'string', valueName: 'URL', env: 'IICP_BACKEND_URL', description: 'local HTTP backend; tasks go to URL/v1/task' },
  { name: 'echo', type: 'boolean', description: 'answer every task with {"result":{"echo": <task.payload>}}' },
  { name: 'ticket', type: 'string', valueName: 'TICKET', env: 'IICP_RELAY_BIND_TICKET', description: 'static bind ticket (takes precedence over --directory)' },
  { name: 'directory', type: 'string', valueName: 'URL', env: 'IICP_DIRECTORY_URL', description: 'directory to fetch a fresh bind ticket from before every bind' },
  { name: 'node-token', type: 'string', valueName: 'TOKEN', env: 'IICP_NODE_TOKEN', description: 'node token for the directory' },
  { name: 'max-concurrent', type: 'string', valueName: 'N', env: 'IICP_MAX_CONCURRENT', description: `tasks run at once (default ${WORKER_MAX_CONCURRENT})` },
  ...DIRECT_FLAGS,
  { name: 'log-level', type: 'string', valueName: 'LEVEL', env: 'IICP_LOG_LEVEL', description: 'fatal|error|warn|info|debug|trace|silent (default info)' },
  LOG_FORMAT_FLAG
]

/** True when `--name` (or `--name=…`) is on the command line itself, not only in the environment. */
function onCommandLine (argv: string[], name: string): boolean {
  return argv.some(a => a === `--${name}` || a.startsWith(`--${name}=`))
}

/** The fleet's relays from `--relay a:9485,b:9485` or `--relay-all-addresses`; undefined for one relay. Throws ERR_USAGE. */
function fleetRelaysFromFlags (relayText: string, values: FlagValues): RelayEntry[] | undefined {
  try {
    return relayListFromFlag(relayText, DEFAULT_RELAY_ACCEPT_PORT, boolFlag(values, 'relay-all-addresses'))
  } catch (err) {
    throw usageError(`--relay: ${errorMessage(err)}`)
  }
}

/** Answers `{"result": {"echo": task.payload}}`. */
const echoTaskHandler: TaskHandler = task => ({ result: { echo: (task as { payload?: unknown } | null)?.payload ?? null } })

/** Turns parsed flags into worker options (without logger and callbacks). Throws ERR_USAGE. */
function workerOptionsFromFlags (argv: string[], env: NodeJS.ProcessEnv): { options: WorkerOptions, logLevel: NonNullable<CreateLoggerOptions['level']>, logFormat: LogFormat } | undefined {
  const values = parseFlags(NAME, SYNOPSIS, FLAGS, argv, env)
  if (values === undefined) return undefined
  const relayText = stringFlag(values, 'relay')
  if (relayText === undefined) throw usageError('--relay HOST:PORT is required (or IICP_RELAY_WORKER_ENDPOINT)')
  // A comma-separated list (or --relay-all-addresses) is a relay fleet: plain TCP relays, tried in turn.
  const relays = fleetRelaysFromFlags(relayText, values)
  const relay = relayFromFlags(relays === undefined ? relayText : formatHostPort(relays[0]?.host ?? '', relays[0]?.port ?? 0), values, env)
  const workerId = stringFlag(values, 'worker-id')
  if (workerId === undefined) throw usageError('--worker-id is required (or IICP_WORKER_ID)')
  const echo = boolFlag(values, 'echo')
  // An explicit --echo beats a backend URL that only comes from the environment.
  const backend = echo && !onCommandLine(argv, 'backend') ? undefined : stringFlag(values, 'backend')
  if (echo === (backend !== undefined)) throw usageError('give exactly one of --backend URL and --echo')
  const ticket = stringFlag(values, 'ticket')
  const directory = stringFlag(values, 'directory')
  const nodeToken = stringFlag(values, 'node-token')
  if (ticket === undefined && (directory === undefined) !== (nodeToken === undefined)) {
    throw usageError('--directory and --node-token go together')
  }
  const logLevel = stringFlag(values, 'log-level') ?? 'info'
  if (!isLogLevel(logLevel)) throw usageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`)
  const options: WorkerOptions = {
    relayHost: relay.host,
    relayPort: relay.port,
    ...directOptionsFromFlags(values),
    ...(relays === undefined ? {} : { relays }),
    ...(relay.transport === undefined ? {} : { transport: relay.transport }),
    workerId,
    intent: stringFlag(values, 'intent') ?? '',
    models: listFlag(values, 'model'),
    maxConcurrent: intFlag(values, 'max-concurrent', WORKER_MAX_CONCURRENT, 1, 100_000),
    ...(backend === undefined ? { handler: echoTaskHandler } : { backendUrl: backend }),
    ...(ticket !== undefined ? { ticket } : directory !== undefined && nodeToken !== undefined ? { ticketDirectory: { url: directory, nodeToken } } : {})
  }
  return { options, logLevel, logFormat: logFormatFlag(values) }
}

/**
 * The `iicp-worker` program: runs until SIGTERM or SIGINT, then stops gracefully.
 * Resolves with the exit code; throws ERR_USAGE (exit 2) or ERR_INVALID_CONFIG for bad input.
 */
export async function workerMain (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = workerOptionsFromFlags(argv, env)
  if (parsed === undefined) return 0
  const logger = createLogger({ level: parsed.logLevel, format: parsed.logFormat, name: NAME, fd: 2 })
  let worker
  try {
    worker = createWorker({ ...parsed.options, logger })
  } catch (err) {
    throw usageError((err as Error).message)
  }
  const { relayHost, relayPort, workerId } = parsed.options
  worker.on('bind', info => {
    process.stdout.write(`${NAME} bound worker=${workerId} relay=${relayHost}:${relayPort} endpoint=${info.endpoint}\n`)
  })
  await new Promise<void>(resolve => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      logger.info({ signal }, 'stopping')
      void worker.stop().then(resolve)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    void worker.start()
  })
  return 0
}
