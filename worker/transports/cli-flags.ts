/**
 * The worker CLI's transport flags: `--relay` as `host:port`, `iicpsec://…`, `wss://…` or
 * `https://…`, `--transport auto|tcp|tls|wss|long-poll`, `--ca FILE`, and the proxy variables
 * (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) from the environment.
 */
import { readFileSync } from 'node:fs'
import { stringFlag, usageError, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { errorMessage } from '../../src/errors.ts'
import type { WorkerTransportOptions } from './dialer.ts'
import { proxySettingsFromEnv } from './proxy.ts'
import { autoTargets, parseRelayTarget, targetHost, type RelayTarget, type TransportMode } from './targets.ts'

const MODES: readonly TransportMode[] = ['auto', 'tcp', 'tls', 'wss', 'long-poll']

/** The transport flags (merged into the worker's flag list). */
export const TRANSPORT_FLAGS: FlagSpec[] = [
  { name: 'transport', type: 'string', valueName: 'MODE', env: 'IICP_RELAY_TRANSPORT', description: 'auto (TCP, then WSS on 443, then long-poll) | tcp | tls | wss | long-poll (default: from the --relay scheme)' },
  { name: 'ca', type: 'string', valueName: 'FILE', env: 'IICP_RELAY_CA', description: 'extra trusted CA certificate (PEM) for a relay with a private CA; certificates are always verified' }
]

/** Where the CLI's worker dials. */
export interface RelayFromFlags {
  /** The relay host (logs, bind info). */
  host: string
  /** The relay-accept port, or the HTTPS port for WSS/long-poll targets. */
  port: number
  /** Set unless the relay is a plain `host:port` with no `--transport`. */
  transport: WorkerTransportOptions | undefined
}

function portOf (t: RelayTarget): number {
  if (t.kind === 'tcp' || t.kind === 'tls') return t.port
  return Number(t.url.port === '' ? (t.url.protocol === 'https:' || t.url.protocol === 'wss:' ? 443 : 80) : t.url.port)
}

/** Reads `--relay`, `--transport` and `--ca`. Throws ERR_USAGE. */
export function relayFromFlags (relayText: string, values: FlagValues, env: NodeJS.ProcessEnv): RelayFromFlags {
  const modeText = stringFlag(values, 'transport')
  if (modeText !== undefined && !(MODES as readonly string[]).includes(modeText)) throw usageError(`--transport must be one of ${MODES.join(', ')}; got "${modeText}"`)
  const mode = modeText as TransportMode | undefined
  const caFile = stringFlag(values, 'ca')
  let ca: string | undefined
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8')
    } catch (err) {
      throw usageError(`--ca ${caFile}: ${errorMessage(err)}`)
    }
  }
  let first: RelayTarget
  try {
    first = mode === 'auto' ? autoTargets(relayText)[0] as RelayTarget : parseRelayTarget(relayText)
  } catch (err) {
    throw usageError(`--relay: ${errorMessage(err)}`)
  }
  if (mode !== undefined && mode !== 'auto' && mode !== first.kind) throw usageError(`--transport ${mode} does not match --relay ${relayText} (a ${first.kind} address)`)
  const plain = first.kind === 'tcp' && mode === undefined && ca === undefined
  return {
    host: targetHost(first),
    port: portOf(first),
    transport: plain
      ? undefined
      : { relay: relayText, ...(mode === undefined ? {} : { mode }), ...(ca === undefined ? {} : { ca }), proxy: proxySettingsFromEnv(env) }
  }
}
