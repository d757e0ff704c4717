/**
 * `iicp-nat` command logic: `iicp-nat probe [flags]`. Read-only by default; `--map` creates,
 * verifies and deletes a mapping and pinhole. Exit codes (spec §4.5): 0 a direct path was
 * verified by a reflector, 1 not directly reachable (fallback needed), 2 inconclusive (direct
 * claimed but not verified, offline, DNS failing, port held by another program), 3 usage or
 * internal error, or a mapping/pinhole the probe made that could not be deleted. 75 stays reserved for `serve`.
 */
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../src/errors.ts'
import type { LevelWithSilent } from 'pino'
import { createLogger, isLogLevel } from '../src/log.ts'
import { parseHostPort, urlHost } from '../src/host-port.ts'
import { tryParseIp } from './net/addr.ts'
import { DEFAULT_PROBE_PORT, probeNetwork, type ProbeOptions } from './probe/probe.ts'
import { boolFlag, intFlag, listFlag, parseFlags, secondsFlag, stringFlag, usageError, VERSION, type FlagSpec } from '../src/cli/args.ts'
import { formatProbeReport } from './probe/format.ts'

/** Exit code for usage and internal errors. */
export const NAT_EXIT_ERROR = 3

const PROBE_FLAGS: FlagSpec[] = [
  { name: 'stun', type: 'string', multiple: true, env: 'IICP_NAT_STUN', valueName: 'HOST:PORT', description: 'STUN server (default port 3478); put an RFC 5780 two-address server first. Default: a short public list (see README)' },
  { name: 'no-stun', type: 'boolean', description: 'skip the STUN step' },
  { name: 'reflector', type: 'string', multiple: true, env: 'IICP_NAT_REFLECTOR', valueName: 'URL', description: 'dial-back reflector: http(s)://host:port of an iicp-relay (repeat it: a failure refutes reachability only when two reflectors agree); without one, direct paths stay self-attested' },
  { name: 'map', type: 'boolean', description: 'create a UPnP/NAT-PMP mapping and an IPv6 pinhole, verify them, then delete them' },
  { name: 'keep', type: 'boolean', description: 'with --map: leave the mapping and pinhole in place (lease 3600 s unless --lease)' },
  { name: 'lease', type: 'string', valueName: 'SECONDS', description: 'lease for --map mappings (default 120, or 3600 with --keep)' },
  { name: 'port', type: 'string', env: 'IICP_NAT_PORT', valueName: 'N', description: `port the node serves on (default ${DEFAULT_PROBE_PORT}; 0 picks a free port)` },
  { name: 'no-upnp', type: 'boolean', env: 'IICP_SKIP_UPNP', description: 'no router discovery at all: no SSDP, SOAP or NAT-PMP' },
  { name: 'no-natpmp', type: 'boolean', description: 'no NAT-PMP (UPnP only)' },
  { name: 'no-v6', type: 'boolean', description: 'skip IPv6 probes' },
  { name: 'no-trace', type: 'boolean', description: 'skip the carrier hop check (TTL-limited UDP probes toward the STUN server with traceroute/tracepath)' },
  { name: 'gateway', type: 'string', multiple: true, valueName: 'URL|IP', description: 'router to use instead of discovery: UPnP description URL, or router address (SSDP unicast and NAT-PMP)' },
  { name: 'interface', type: 'string', valueName: 'NAME', description: 'interface for SSDP discovery' },
  { name: 'timeout', type: 'string', valueName: 'S', description: 'overall deadline in seconds (default 3, or 8 with --map)' },
  { name: 'json', type: 'boolean', description: 'print the iicp-nat-probe/v1 JSON document' },
  { name: 'log-level', type: 'string', env: 'IICP_LOG_LEVEL', valueName: 'LEVEL', description: 'log level for stderr JSON logs (default warn)' }
]

const SYNOPSIS = 'Usage: iicp-nat probe [options]\n\nMeasures this host\'s NAT (STUN RFC 5780, UPnP-IGD, NAT-PMP, IPv6), verifies inbound reachability through a\ndial-back reflector, and classifies the result into an ADR-043 exposure mode. Read-only unless --map.\nExit codes: 0 verified direct, 1 fallback needed, 2 inconclusive (also offline, DNS failing, port held by another\nprogram), 3 usage or internal error, or a mapping the probe made could not be deleted.'

const TOP_HELP = 'Usage: iicp-nat <command> [options]\n\nCommands:\n  probe        measure and classify the network (iicp-nat probe --help)\n\nOptions:\n  --help       print this help and exit\n  --version    print the version and exit\n'

function usage (message: string): ToolkitError {
  return usageError(message, NAT_EXIT_ERROR)
}

/** Turns parsed flags into probe options; throws ERR_USAGE. */
function probeOptionsFromFlags (values: Record<string, string | boolean | string[] | undefined>): ProbeOptions & { json: boolean, logLevel: LevelWithSilent } {
  const options: ProbeOptions = {}
  const stun = listFlag(values, 'stun')
  if (boolFlag(values, 'no-stun')) {
    if (stun.length > 0) throw usage('--stun and --no-stun exclude each other')
    options.stun = false
  } else if (stun.length > 0) {
    options.stunServers = stun.map(s => {
      try {
        return parseHostPort(s, { defaultPort: 3478 })
      } catch (err) {
        throw usage(`--stun: ${errorMessage(err)}`)
      }
    })
  }
  const reflectors = listFlag(values, 'reflector')
  for (const r of reflectors) {
    const protocol = URL.canParse(r) ? new URL(r).protocol : ''
    if (protocol !== 'http:' && protocol !== 'https:') throw usage(`--reflector must be an http(s) URL, got "${r}"`)
  }
  if (reflectors.length > 0) options.reflectors = reflectors
  const gateways = listFlag(values, 'gateway')
  for (const g of gateways) {
    const isUrl = /^http:\/\//i.test(g)
    if (!isUrl && tryParseIp(g) === undefined) throw usage(`--gateway must be an http:// description URL or an IP address, got "${g}"`)
    if (isUrl) {
      if (tryParseIp(urlHost(g)) === undefined) throw usage(`--gateway URL must have an IP literal host, got "${g}"`)
    }
  }
  if (gateways.length > 0) options.gateways = gateways
  const map = boolFlag(values, 'map')
  const keep = boolFlag(values, 'keep')
  if (keep && !map) throw usage('--keep needs --map')
  options.map = map
  options.keep = keep
  if (stringFlag(values, 'lease') !== undefined) {
    if (!map) throw usage('--lease needs --map')
    options.leaseSeconds = intFlag(values, 'lease', 120, 1, 86400)
  }
  options.port = intFlag(values, 'port', DEFAULT_PROBE_PORT, 0, 65535)
  options.upnp = !boolFlag(values, 'no-upnp')
  options.natPmp = !boolFlag(values, 'no-natpmp')
  options.ipv6 = !boolFlag(values, 'no-v6')
  options.carrierHop = !boolFlag(values, 'no-trace')
  if (!options.upnp && (gateways.length > 0 || map)) throw usage(`${map ? '--map' : '--gateway'} needs router discovery; drop --no-upnp`)
  const iface = stringFlag(values, 'interface')
  if (iface !== undefined) {
    if (!/^[A-Za-z0-9_.:@-]{1,32}$/.test(iface)) throw usage(`--interface: invalid name "${iface}"`)
    options.interface = iface
  }
  if (stringFlag(values, 'timeout') !== undefined) options.timeoutMs = secondsFlag(values, 'timeout', 3000, 0.2, 120)
  const logLevel = stringFlag(values, 'log-level') ?? 'warn'
  if (!isLogLevel(logLevel)) throw usage(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`)
  return { ...options, json: boolFlag(values, 'json'), logLevel }
}

/**
 * Parses `iicp-nat probe` arguments (flags with their environment fallbacks) into probe options.
 * Returns undefined after printing --help or --version; throws ERR_USAGE (exit code 3).
 */
export function parseProbeArgs (argv: string[], env: NodeJS.ProcessEnv): (ProbeOptions & { json: boolean, logLevel: LevelWithSilent }) | undefined {
  let values
  try {
    values = parseFlags('iicp-nat probe', SYNOPSIS, PROBE_FLAGS, argv, env)
  } catch (err) {
    if (isToolkitError(err, ErrorCode.Usage)) throw usage(err.message)
    throw err
  }
  return values === undefined ? undefined : probeOptionsFromFlags(values)
}

/**
 * Runs `iicp-nat` with `argv` (without the node and script paths) and returns the exit code.
 * Prints the report to stdout, usage and internal errors to stderr (exit 3).
 */
export async function natMain (argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const [command, ...rest] = argv
    if (command === undefined || command === '--help' || command === '-h') {
      ;(command === undefined ? process.stderr : process.stdout).write(TOP_HELP)
      return command === undefined ? NAT_EXIT_ERROR : 0
    }
    if (command === '--version') {
      process.stdout.write(`iicp-nat ${VERSION}\n`)
      return 0
    }
    if (command !== 'probe') throw usage(`unknown command "${command}" (expected "probe")`)
    const parsed = parseProbeArgs(rest, env)
    if (parsed === undefined) return 0
    const { json, logLevel, ...options } = parsed
    const logger = createLogger({ level: logLevel, name: 'iicp-nat', fd: 2 })
    const ctrl = new AbortController()
    const onSignal = (): void => { ctrl.abort(new ToolkitError(ErrorCode.Aborted, 'interrupted')) }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      const report = await probeNetwork({ ...options, logger, signal: ctrl.signal })
      process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatProbeReport(report))
      return report.exit_code
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  } catch (err) {
    const isUsage = isToolkitError(err, ErrorCode.Usage)
    process.stderr.write(`iicp-nat: ${isUsage ? '' : 'error: '}${errorMessage(err)}\n`)
    return NAT_EXIT_ERROR
  }
}
