/**
 * A relay that tells the directory it exists (directory-contract.md §7): `iicp-relay --directory
 * URL` registers it as `relay_capable` with its public HTTP endpoint and its relay-accept port in
 * `transport_metadata.relay_accept_port` (the directory drops a top-level `relay_accept_port`),
 * heartbeats every 30 s with its real load (sessions / capacity), registers again when the
 * directory forgets the token (401), retries while the directory is down, and deregisters on
 * close. With `--require-ticket` and no `--ticket-public-key`, the key is fetched from
 * `GET …/v1/directory-key` at start-up.
 */
import { listFlag, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../src/cli/args.ts'
import {
  deregisterNode, fetchDirectoryKey, refusalOf, registerNode, sendHeartbeat, type DirectoryTarget, type Registration
} from '../src/directory/client.ts'
import { errorMessage } from '../src/errors.ts'
import { DIRECTORY_TIMEOUT_MS } from '../src/limits.ts'
import type { Logger } from '../src/log.ts'
import { VERSION } from '../src/version.ts'

/** Intent a relay advertises by default (what workers query when electing). */
const DEFAULT_INTENT = 'urn:iicp:intent:llm:chat:v1'
/** Heartbeat period (directory-contract.md §5). */
const HEARTBEAT_MS = 30_000
/** Retry period while the directory is down. */
const RETRY_MS = 5_000

/** The flags of the relay's self-registration. */
export const DIRECTORY_FLAGS: readonly FlagSpec[] = [
  { name: 'directory', type: 'string', env: 'IICP_DIRECTORY_URL', valueName: 'URL', description: 'register this relay (relay_capable) with the directory at URL (e.g. https://directory.example/api)' },
  { name: 'node-token', type: 'string', env: 'IICP_NODE_TOKEN', valueName: 'TOKEN', description: 'token of an earlier registration (sent as current_node_token)', secret: true },
  { name: 'public-url', type: 'string', env: 'IICP_RELAY_PUBLIC_URL', valueName: 'URL', description: 'public HTTP endpoint registered for this relay (default http://<host>:<http port>)' },
  { name: 'intent', type: 'string', multiple: true, env: 'IICP_INTENT', valueName: 'URN', description: 'intent workers elect relays for (default urn:iicp:intent:llm:chat:v1)' },
  { name: 'region', type: 'string', env: 'IICP_REGION', valueName: 'REGION', description: 'region sent to the directory (default unknown)' },
  { name: 'heartbeat-every', type: 'string', env: 'IICP_HEARTBEAT_SECONDS', valueName: 'SECONDS', description: `directory heartbeat period (default ${HEARTBEAT_MS / 1000})` }
]

/** The directory target from the flags, when `--directory` is given. */
export function directoryFromFlags (values: FlagValues): DirectoryTarget | undefined {
  const url = stringFlag(values, 'directory')
  if (url === undefined || url === '') return undefined
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw usageError(`--directory must be an http(s) URL, got "${url}"`)
  return { url, timeoutMs: DIRECTORY_TIMEOUT_MS }
}

/** Fetches the directory's ticket key; throws ERR_USAGE-style errors with the reason. */
export async function directoryKey (target: DirectoryTarget, logger: Logger): Promise<string> {
  const key = await fetchDirectoryKey(target)
  logger.info({ directory: target.url }, 'fetched the directory key for bind tickets')
  return key
}

/** What the registration needs to know about the listening relay. */
export interface RelayRegistrationOptions {
  target: DirectoryTarget
  values: FlagValues
  /** The relay's node id (`*` = let the directory assign one). */
  nodeId: string
  /** Default public endpoint when --public-url is absent. */
  httpUrl: string
  relayPort: number
  /** Sessions and capacity for the load. */
  sessions: () => number
  maxSessions: number
  logger: Logger
}

/** A running registration. */
export interface RelayRegistration {
  /** Deregisters (when registered) and clears the timers. Never rejects. */
  close: () => Promise<void>
}

/** Registers the relay now (retrying while the directory is down) and keeps it alive. */
export function startRelayRegistration (o: RelayRegistrationOptions): RelayRegistration {
  const log = o.logger.child({ component: 'directory' })
  const endpoint = (stringFlag(o.values, 'public-url') ?? o.httpUrl).replace(/\/+$/, '')
  const intents = listFlag(o.values, 'intent')
  const payload: Record<string, unknown> = {
    ...(o.nodeId === '*' ? {} : { node_id: o.nodeId }),
    endpoint,
    region: stringFlag(o.values, 'region') ?? 'unknown',
    capabilities: (intents.length > 0 ? intents : [DEFAULT_INTENT]).map(intent => ({ intent })),
    limits: { max_concurrent: 256, tokens_per_min: 60_000 },
    relay_capable: true,
    transport_method: 'direct',
    exposure_mode: 'ipv4_public_direct',
    transport_metadata: { relay_accept_port: o.relayPort },
    sdk_language: 'typescript',
    implementation_name: 'iicp-relay-toolkit',
    implementation_version: VERSION
  }
  let token = stringFlag(o.values, 'node-token')
  let reg: Registration | undefined
  let challenge: string | undefined
  let timer: NodeJS.Timeout | undefined
  const stop = new AbortController()
  const heartbeatMs = secondsFlag(o.values, 'heartbeat-every', HEARTBEAT_MS, 0.1, 3600)

  const schedule = (ms: number, f: () => Promise<void>): void => {
    clearTimeout(timer)
    if (stop.signal.aborted) return
    timer = setTimeout(() => { void f() }, ms)
    timer.unref()
  }
  const register = async (): Promise<void> => {
    try {
      reg = await registerNode(o.target, { ...payload, ...(reg === undefined ? {} : { node_id: reg.nodeId }), ...(token === undefined ? {} : { current_node_token: token }) }, stop.signal)
      token = reg.nodeToken
      challenge = undefined
      log.info({ nodeId: reg.nodeId, endpoint, relayAcceptPort: o.relayPort }, 'registered with the directory as relay_capable')
      schedule(heartbeatMs, beat)
    } catch (err) {
      if (stop.signal.aborted) return
      const refusal = refusalOf(err)
      log.warn({ reason: errorMessage(err), code: refusal?.iicpCode }, refusal?.status === 422 ? 'directory refused the relay registration' : 'directory registration failed; retrying')
      schedule(refusal?.status === 422 ? heartbeatMs : RETRY_MS, register)
    }
  }
  const beat = async (): Promise<void> => {
    if (reg === undefined) return
    try {
      challenge = await sendHeartbeat(o.target, reg, { load: o.sessions() / o.maxSessions, challenge, hmacKey: reg.hmacKey }, stop.signal)
      schedule(heartbeatMs, beat)
    } catch (err) {
      if (stop.signal.aborted) return
      log.warn({ reason: errorMessage(err) }, 'heartbeat failed')
      schedule(refusalOf(err)?.status === 401 ? 0 : heartbeatMs, refusalOf(err)?.status === 401 ? register : beat)
    }
  }
  void register()
  return {
    close: async () => {
      stop.abort()
      clearTimeout(timer)
      if (reg === undefined) return
      try {
        await deregisterNode(o.target, reg, AbortSignal.timeout(o.target.timeoutMs))
      } catch (err) {
        log.warn({ reason: errorMessage(err) }, 'deregister failed')
      }
    }
  }
}
