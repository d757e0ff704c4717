/**
 * The `iicp-relay` command as a function: flags (each with an `IICP_…` environment
 * fallback) → a relay that runs until SIGTERM/SIGINT, then closes (CLOSE to every session)
 * and resolves with exit code 0. Composable: callers can add flags and HTTP routes (e.g. the
 * NAT dial-back reflector) without touching this module.
 */
import { boolFlag, intFlag, parseFlags, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../src/cli/args.ts'
import { formatHostPort } from '../src/host-port.ts'
import { createLogger, isLogLevel, type Logger } from '../src/log.ts'
import { FORWARD_TIMEOUT_MS, BIND_RATE_LIMIT, DEFAULT_RELAY_ACCEPT_PORT, DEFAULT_RELAY_HTTP_PORT, MAX_SESSIONS } from '../src/limits.ts'
import type { ExtensionRoute } from '../src/http/route.ts'
import type { RelayOptions } from './options.ts'
import { createRelay, type RelayAddress } from './relay.ts'

/** Shutdown must finish within this long after SIGTERM/SIGINT, or the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 5_000

const SYNOPSIS = 'Usage: iicp-relay [options]\n\nRuns a public IICP relay: workers behind NAT bind on the relay port, consumers call them over HTTP.'

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
  { name: 'forward-timeout', type: 'string', env: 'IICP_RELAY_FORWARD_TIMEOUT', valueName: 'SECONDS', description: `how long a relayed task may take (default ${FORWARD_TIMEOUT_MS / 1000})` },
  { name: 'log-level', type: 'string', env: 'IICP_LOG_LEVEL', valueName: 'LEVEL', description: 'fatal, error, warn, info, debug, trace or silent (default info); JSON logs go to stderr' }
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
  return {
    host: stringFlag(values, 'host') ?? '0.0.0.0',
    httpPort: intFlag(values, 'http-port', DEFAULT_RELAY_HTTP_PORT, 0, 65535),
    relayPort: intFlag(values, 'relay-port', DEFAULT_RELAY_ACCEPT_PORT, 0, 65535),
    ...(nodeId === undefined ? {} : { nodeId }),
    requireTicket: boolFlag(values, 'require-ticket'),
    ...(key === undefined || key === '' ? {} : { ticketPublicKey: key }),
    maxSessions: intFlag(values, 'max-sessions', MAX_SESSIONS, 1, 10_000_000),
    bindRateLimit: intFlag(values, 'bind-rate-limit', BIND_RATE_LIMIT, 0, 1_000_000),
    forwardTimeoutMs: secondsFlag(values, 'forward-timeout', FORWARD_TIMEOUT_MS, 0.1, 86_400)
  }
}

/** The one line printed on stdout once both listeners are up. */
function listeningLine (addr: RelayAddress): string {
  return `iicp-relay listening http=http://${formatHostPort(addr.host, addr.httpPort)} relay=${formatHostPort(addr.host, addr.relayPort)}\n`
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
  const values = parseFlags('iicp-relay', SYNOPSIS, [...RELAY_FLAGS, ...(compose.flags ?? [])], argv, env)
  if (values === undefined) return 0
  const level = stringFlag(values, 'log-level') ?? 'info'
  if (!isLogLevel(level)) throw usageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${level}"`)
  const options = relayOptionsFromFlags(values)
  const logger = createLogger({ level, name: 'iicp-relay', fd: 2 })
  const side = await compose.start?.(values, logger)
  const relay = createRelay({ ...options, logger, extraRoutes: compose.routes?.(values, logger) ?? [] })
  let addr: RelayAddress
  try {
    addr = await relay.listen()
  } catch (err) {
    await relay.close()
    await side?.close()
    throw err
  }
  const line = listeningLine(addr)
  ;(compose.out ?? process.stdout).write(side === undefined ? line : `${line.trimEnd()} ${side.describe}\n`)
  const why = await untilStopped(compose.stop)
  logger.info({ why }, 'shutting down')
  const force = setTimeout(() => {
    logger.error('shutdown did not finish in time; exiting')
    process.exit(1)
  }, SHUTDOWN_DEADLINE_MS)
  force.unref()
  try {
    await relay.close()
    await side?.close()
  } finally {
    clearTimeout(force)
  }
  return 0
}
