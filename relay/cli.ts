/**
 * The `iicp-relay` command as a function: flags (each with an `IICP_…` environment
 * fallback) → a relay that runs until SIGTERM/SIGINT, then closes (CLOSE to every session)
 * and resolves with exit code 0. Composable: callers can add flags and HTTP routes (e.g. the
 * NAT dial-back reflector) without touching this module.
 */
import { collectDefaultMetrics } from 'prom-client'
import { boolFlag, intFlag, LOG_FORMAT_FLAG, logFormatFlag, resolveFlags, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../src/cli/args.ts'
import { formatEffectiveConfig } from '../src/cli/config-file.ts'
import { formatHostPort } from '../src/host-port.ts'
import { createLogger, isLogLevel, type Logger } from '../src/log.ts'
import { FORWARD_TIMEOUT_MS, BIND_RATE_LIMIT, BIND_RATE_WINDOW_MS, DEFAULT_RELAY_ACCEPT_PORT, DEFAULT_RELAY_HTTP_PORT, MAX_SESSIONS } from '../src/limits.ts'
import type { ExtensionRoute } from '../src/http/route.ts'
import type { RelayOptions } from './options.ts'
import { createRelay, type RelayAddress } from './relay.ts'
import { keygenMain, ticketMain } from './cli-tools.ts'
import { FLEET_FLAGS, fleetFromFlags } from './fleet/cli-flags.ts'
import { TRANSPORT_FLAGS, reloadTlsOnSighup, transportOptionsFromFlags } from './transports/cli-flags.ts'
import { startMetricsServer, type MetricsServer } from './metrics-server.ts'
import { DIRECTORY_FLAGS, directoryFromFlags, directoryKey, startRelayRegistration } from './directory-registration.ts'

/** Shutdown must finish within this long after SIGTERM/SIGINT, or the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 5_000

const SYNOPSIS = 'Usage: iicp-relay [options]\n       iicp-relay config check [options]   print the effective configuration (secrets redacted) and exit\n       iicp-relay keygen | ticket           key pair and bind tickets for strict mode without a directory\n\nRuns a public IICP relay: workers behind NAT bind on the relay port, consumers call them over HTTP.'

/** Metrics listener host when only --metrics-port is given. */
const DEFAULT_METRICS_HOST = '127.0.0.1'

/** The relay's own flags. */
const RELAY_FLAGS: readonly FlagSpec[] = [
  { name: 'host', type: 'string', env: 'IICP_RELAY_HOST', valueName: 'HOST', description: 'address to listen on (default 0.0.0.0)' },
  { name: 'http-port', type: 'string', env: 'IICP_RELAY_HTTP_PORT', valueName: 'PORT', description: `HTTP front port, 0 = ephemeral (default ${DEFAULT_RELAY_HTTP_PORT})` },
  { name: 'relay-port', type: 'string', env: 'IICP_RELAY_ACCEPT_PORT', valueName: 'PORT', description: `relay-accept port workers dial, 0 = ephemeral (default ${DEFAULT_RELAY_ACCEPT_PORT})` },
  { name: 'node-id', type: 'string', env: 'IICP_NODE_ID', valueName: 'ID', description: 'this relay\'s node id: tickets with aud equal to it or "*" are accepted (default "*")' },
  { name: 'require-ticket', type: 'boolean', env: 'IICP_RELAY_REQUIRE_BIND_TICKET', description: 'strict mode: every bind needs a directory-signed ticket' },
  { name: 'ticket-public-key', type: 'string', env: 'IICP_RELAY_BIND_TICKET_PUBLIC_KEY', valueName: 'HEX', description: 'the directory\'s Ed25519 public key (64 hex)' },
  { name: 'max-sessions', type: 'string', env: 'IICP_RELAY_MAX_SESSIONS', valueName: 'N', description: `most bound workers (default ${MAX_SESSIONS})` },
  { name: 'bind-rate-limit', type: 'string', env: 'IICP_RELAY_BIND_RATE_LIMIT', valueName: 'N', description: `new-worker binds per IP per minute, 0 = off (default ${BIND_RATE_LIMIT})` },
  { name: 'inbound-budget', type: 'string', env: 'IICP_RELAY_INBOUND_BUDGET_MIB', valueName: 'MIB', description: 'MiB all workers\' partial frames may hold together; the worst holders are dropped beyond it (default 1/16 of memory, 32-1024)' },
  { name: 'no-task-fast-path', type: 'boolean', env: 'IICP_RELAY_NO_TASK_FAST_PATH', description: 'serve every HTTP request with node:http, task calls included (no fast path)' },
  { name: 'forward-timeout', type: 'string', env: 'IICP_RELAY_FORWARD_TIMEOUT', valueName: 'SECONDS', description: `how long a relayed task may take (default ${FORWARD_TIMEOUT_MS / 1000})` },
  { name: 'log-level', type: 'string', env: 'IICP_LOG_LEVEL', valueName: 'LEVEL', description: 'fatal, error, warn, info, debug, trace or silent (default info); JSON logs go to stderr' },
  LOG_FORMAT_FLAG,
  { name: 'metrics-host', type: 'string', env: 'IICP_RELAY_METRICS_HOST', valueName: 'HOST', description: `metrics listener address (default ${DEFAULT_METRICS_HOST} when --metrics-port is set)` },
  { name: 'metrics-port', type: 'string', env: 'IICP_RELAY_METRICS_PORT', valueName: 'PORT', description: 'serve /metrics on this separate port (0 = ephemeral) instead of the HTTP front' }
]

/** How a caller extends the command. */
export interface RelayCliComposition {
  /** Extra flags, parsed with the relay's own. */
  flags?: readonly FlagSpec[]
  /** Extra HTTP routes built from the parsed flags. */
  routes?: (values: FlagValues, logger: Logger) => ExtensionRoute[]
  /**
   * A side service started before the relay listens and stopped after it closes (e.g. a STUN
   * server); its `describe` text is appended to the listening line. A throw (e.g. a usage
   * error) happens before anything else starts.
   */
  start?: (values: FlagValues, logger: Logger) => Promise<{ describe: string, close: () => Promise<void> } | undefined>
  /** Stops the relay like SIGTERM does (for in-process use). */
  stop?: AbortSignal
  /** Where the listening line goes. @default process.stdout */
  out?: NodeJS.WritableStream
}

/** Maps parsed flags to relay options; throws ERR_USAGE (exit 2) for bad values. */
function relayOptionsFromFlags (values: FlagValues): RelayOptions {
  const key = stringFlag(values, 'ticket-public-key')
  if (key !== undefined && key !== '' && !/^[0-9a-fA-F]{64}$/.test(key)) throw usageError('--ticket-public-key must be 64 hex characters')
  const nodeId = stringFlag(values, 'node-id')
  if (nodeId === '') throw usageError('--node-id must not be empty')
  if (boolFlag(values, 'require-ticket') && (key === undefined || key === '') && stringFlag(values, 'directory') === undefined) {
    throw usageError('--require-ticket needs --ticket-public-key or --directory (the directory\'s Ed25519 key; for a test without a directory: iicp-relay keygen)')
  }
  return {
    host: stringFlag(values, 'host') ?? '0.0.0.0',
    httpPort: intFlag(values, 'http-port', DEFAULT_RELAY_HTTP_PORT, 0, 65535),
    relayPort: intFlag(values, 'relay-port', DEFAULT_RELAY_ACCEPT_PORT, 0, 65535),
    ...(nodeId === undefined ? {} : { nodeId }),
    requireTicket: boolFlag(values, 'require-ticket'),
    ...(key === undefined || key === '' ? {} : { ticketPublicKey: key }),
    maxSessions: intFlag(values, 'max-sessions', MAX_SESSIONS, 1, 10_000_000),
    bindRateLimit: intFlag(values, 'bind-rate-limit', BIND_RATE_LIMIT, 0, 1_000_000),
    ...(stringFlag(values, 'inbound-budget') === undefined ? {} : { maxInboundBufferedBytes: intFlag(values, 'inbound-budget', 0, 32, 1_048_576) * 1024 * 1024 }),
    forwardTimeoutMs: secondsFlag(values, 'forward-timeout', FORWARD_TIMEOUT_MS, 0.1, 86_400),
    ...(boolFlag(values, 'no-task-fast-path') ? { httpTaskFastPath: false } : {}),
    ...transportOptionsFromFlags(values)
  }
}

/** The one line printed on stdout once both listeners are up. */
function listeningLine (addr: RelayAddress, secure: boolean): string {
  const tls = addr.tlsRelayPort === undefined ? '' : ` tls-relay=iicpsec://${formatHostPort(addr.host, addr.tlsRelayPort)}`
  return `iicp-relay listening http=${secure ? 'https' : 'http'}://${formatHostPort(addr.host, addr.httpPort)} relay=${formatHostPort(addr.host, addr.relayPort)}${tls}\n`
}

/** Resolves on SIGTERM, SIGINT or `stop`; a second signal falls back to Node's default (immediate exit). */
async function untilStopped (stop: AbortSignal | undefined): Promise<string> {
  return await new Promise<string>(resolve => {
    const done = (why: string): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      stop?.removeEventListener('abort', onAbort)
      resolve(why)
    }
    const onSignal = (signal: NodeJS.Signals): void => { done(signal) }
    const onAbort = (): void => { done('stop') }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    if (stop?.aborted === true) done('stop')
    else stop?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs `iicp-relay` with `argv` and `env` until stopped; resolves with the exit code (0).
 * Throws ERR_USAGE for bad flags (the caller prints one line and exits 2).
 */
export async function relayMain (argv: string[], env: NodeJS.ProcessEnv = process.env, compose: RelayCliComposition = {}): Promise<number> {
  const out = compose.out ?? process.stdout
  if (argv[0] === 'keygen') return keygenMain(argv.slice(1), env, out)
  if (argv[0] === 'ticket') return ticketMain(argv.slice(1), env, out)
  const checkOnly = argv[0] === 'config'
  if (checkOnly && argv[1] !== 'check') throw usageError('usage: iicp-relay config check [options]')
  const specs = [...RELAY_FLAGS, ...DIRECTORY_FLAGS, ...TRANSPORT_FLAGS, ...FLEET_FLAGS, ...(compose.flags ?? [])]
  const resolved = resolveFlags('iicp-relay', SYNOPSIS, specs, checkOnly ? argv.slice(2) : argv, env)
  if (resolved === undefined) return 0
  const { values } = resolved
  const level = stringFlag(values, 'log-level') ?? 'info'
  if (!isLogLevel(level)) throw usageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${level}"`)
  const format = logFormatFlag(values)
  const options = relayOptionsFromFlags(values)
  const metricsAt = metricsListenerFromFlags(values)
  if (checkOnly) {
    out.write(formatEffectiveConfig(specs, resolved))
    return 0
  }
  const logger = createLogger({ level, format, name: 'iicp-relay', fd: 2 })
  const directory = directoryFromFlags(values)
  if (directory !== undefined && options.requireTicket === true && options.ticketPublicKey === undefined) options.ticketPublicKey = await directoryKey(directory, logger)
  const fleet = fleetFromFlags(values, { limit: options.bindRateLimit ?? BIND_RATE_LIMIT, windowMs: BIND_RATE_WINDOW_MS }, logger)
  const side = await compose.start?.(values, logger)
  const relay = createRelay({ ...options, logger, extraRoutes: compose.routes?.(values, logger) ?? [], metricsOnHttpFront: metricsAt === undefined, ...(fleet === undefined ? {} : { fleet }) })
  // Process metrics (memory, open file descriptors, event-loop lag, GC) beside the relay's own.
  collectDefaultMetrics({ register: relay.metrics })
  let addr: RelayAddress
  let metricsServer: MetricsServer | undefined
  try {
    addr = await relay.listen()
    if (metricsAt !== undefined) metricsServer = await startMetricsServer(relay.metrics, metricsAt.host, metricsAt.port)
  } catch (err) {
    await relay.close()
    await side?.close()
    throw listenError(err)
  }
  const extras = [side?.describe, metricsServer === undefined ? undefined : `metrics=http://${formatHostPort(metricsServer.address.address, metricsServer.address.port)}/metrics`]
  out.write(`${[listeningLine(addr, options.tls !== undefined).trimEnd(), ...extras.filter(e => e !== undefined)].join(' ')}\n`)
  const registration = directory === undefined
    ? undefined
    : startRelayRegistration({
      target: directory, values, nodeId: options.nodeId ?? '*', httpUrl: `${options.tls === undefined ? 'http' : 'https'}://${formatHostPort(addr.host, addr.httpPort)}`,
      relayPort: addr.relayPort, sessions: () => relay.sessionCount, maxSessions: options.maxSessions ?? MAX_SESSIONS, logger
    })
  const stopReload = reloadTlsOnSighup(relay, logger)
  const why = await untilStopped(compose.stop)
  stopReload()
  logger.info({ why }, 'shutting down')
  const force = setTimeout(() => {
    logger.error('shutdown did not finish in time; exiting')
    process.exit(1)
  }, SHUTDOWN_DEADLINE_MS)
  force.unref()
  try {
    await registration?.close()
    await metricsServer?.close()
    await relay.close()
    await side?.close()
  } finally {
    clearTimeout(force)
  }
  return 0
}

/** Where the metrics listener goes, or undefined to keep /metrics on the HTTP front. */
function metricsListenerFromFlags (values: FlagValues): { host: string, port: number } | undefined {
  const host = stringFlag(values, 'metrics-host')
  if (stringFlag(values, 'metrics-port') === undefined) {
    if (host !== undefined) throw usageError('--metrics-host needs --metrics-port')
    return undefined
  }
  return { host: host ?? DEFAULT_METRICS_HOST, port: intFlag(values, 'metrics-port', 0, 0, 65535) }
}

/** A listen failure as one line without a stack (EADDRINUSE, EACCES, EADDRNOTAVAIL); other errors unchanged. */
function listenError (err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (another relay or program has the port)',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    EADDRNOTAVAIL: 'the address is not on this host'
  }
  if (e.code === undefined || why[e.code] === undefined) return err
  const where = e.address === undefined ? '' : ` ${formatHostPort(e.address, e.port ?? 0)}`
  return new Error(`cannot listen on${where}: ${why[e.code]} (${e.code})`, { cause: err })
}
