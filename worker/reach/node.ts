/**
 * A reachable node: the worker's own HTTP front, the reachability ladder over it, relay binds
 * for the relay rung, and the directory registration, composed from injected NAT capabilities (src/reach/capabilities.ts)
 * (worker/ never imports nat/; `createNode()` in worker/bin/create-node.ts wires nat's in).
 */
import { EventEmitter } from 'node:events'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { discoverNodes } from '../../src/directory/client.ts'
import { formatHostPort, unbracketHost } from '../../src/host-port.ts'
import {
  BACKEND_TIMEOUT_MS, DEFAULT_RELAY_HTTP_PORT, DIRECTORY_TIMEOUT_MS, FORWARD_TIMEOUT_MS, HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, MAX_HTTP_CONNECTIONS,
  MAX_REQUEST_BODY_BYTES, STOP_GRACE_MS, WORKER_MAX_CONCURRENT
} from '../../src/limits.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { createBackendHandler } from '../backend-handler.ts'
import type { TaskHandler } from '../options.ts'
import type { DirectoryNatType, ReachCapabilities } from '../../src/reach/capabilities.ts'
import { createDirectFront, type DirectFront } from './direct-front.ts'
import { DEFAULT_LADDER_TIMINGS, Ladder, type LadderTimings, type Transition } from './ladder.ts'
import { createRegistrar, type Registrar } from './registrar.ts'
import { createRelayBinder } from './relay-binder.ts'
import { candidateLabel, electRelays, shuffled, type RelayCandidate } from './relay-choice.ts'
import type { RungContext, RungLine } from './rungs.ts'
import { reachMetrics } from './status.ts'

/** The directory the node registers with (and elects relays from). */
export interface ReachDirectoryOptions {
  /** Base URL as the upstream SDKs take it, e.g. `https://directory.example/api`. */
  url: string
  /** A token from an earlier registration (optional: the first register issues one). */
  nodeToken?: string
  /** Register fields besides the transport ones; defaults fill region, capabilities and limits. */
  payload?: Record<string, unknown>
}

/** Options for {@link createReachNode}. Give exactly one of `handler` and `backendUrl`. */
export interface ReachNodeOptions {
  /** The node id: the directory `node_id` and the relay worker id. */
  nodeId: string
  handler?: TaskHandler
  backendUrl?: string
  /** Served port. @default 9484 */
  port?: number
  /** Listen address of the front. @default '::' */
  host?: string
  /** Intent URN (RELAY_BIND, register capability, relay election). @default 'urn:iicp:intent:llm:chat:v1' */
  intent?: string
  models?: string[]
  /** Relay-accept addresses, tried in random order. */
  relays?: RelayCandidate[]
  /** Dial-back reflectors; @default the relays' HTTP fronts. */
  reflectors?: string[]
  directory?: ReachDirectoryOptions
  capabilities: ReachCapabilities
  timings?: Partial<LadderTimings>
  /** Exit path for supervisors: emit `give-up` after `timings.giveUpAfterMs` without a rung. */
  supervised?: boolean
  /** Requested router lease. @default 3600 */
  leaseSeconds?: number
  verifyTimeoutMs?: number
  mapTimeoutMs?: number
  /** Deadline of one relay bind. @default 5000 */
  bindTimeoutMs?: number
  heartbeatMs?: number
  registerRetryMs?: number
  maxConcurrent?: number
  taskTimeoutMs?: number
  stopGraceMs?: number
  logger?: Logger
}

/** Events of a {@link ReachNode}. */
export interface ReachNodeEvents {
  line: [line: RungLine]
  change: [t: Transition]
  'give-up': []
}

/** A running node. */
export interface ReachNode extends EventEmitter<ReachNodeEvents> {
  /** The front's port. */
  readonly port: number
  /** Health body fields (rung, transitions, lease and registration state). */
  status: () => Record<string, unknown>
  /** Climbs the ladder once (resolves after the first climb, whatever its result) and keeps the rung. */
  start: () => Promise<void>
  /** Re-checks the serving rung now. */
  recheck: (reason: string) => void
  /** Deregisters, releases the rung (tasks finish), closes the front. Idempotent. */
  stop: () => Promise<void>
}

const DEFAULT_INTENT = 'urn:iicp:intent:llm:chat:v1'

function defaultPayload (intent: string, models: string[], maxConcurrent: number): Record<string, unknown> {
  return {
    region: 'unknown',
    capabilities: [{ intent, ...(models.length > 0 ? { models } : {}) }],
    limits: { max_concurrent: Math.min(256, maxConcurrent), tokens_per_min: 60_000 },
    sdk_language: 'typescript',
    implementation_name: 'iicp-relay-toolkit'
  }
}

/** Starts the node's front; `start()` then climbs the ladder. */
export async function createReachNode (o: ReachNodeOptions): Promise<ReachNode> {
  if ((o.handler === undefined) === (o.backendUrl === undefined)) throw new ToolkitError(ErrorCode.InvalidConfig, 'give exactly one of handler and backendUrl')
  if (o.nodeId === '' || /[/%?#\s]/.test(o.nodeId)) throw new ToolkitError(ErrorCode.InvalidConfig, `nodeId must be non-empty without "/", "%", "?", "#" or whitespace, got "${o.nodeId}"`)
  const log = o.logger ?? silentLogger()
  const maxConcurrent = o.maxConcurrent ?? WORKER_MAX_CONCURRENT
  const intent = o.intent ?? DEFAULT_INTENT
  const models = o.models ?? []
  const backend = o.backendUrl === undefined ? undefined : createBackendHandler({ url: new URL(o.backendUrl), timeoutMs: BACKEND_TIMEOUT_MS, maxSockets: maxConcurrent })
  const inner = (backend?.handler ?? o.handler) as TaskHandler
  let running = 0
  const handler: TaskHandler = async (task, ctx) => {
    running++
    try { return await inner(task, ctx) } finally { running-- }
  }
  const emitter = new EventEmitter<ReachNodeEvents>()
  const timings: LadderTimings = { ...DEFAULT_LADDER_TIMINGS, ...o.timings }
  const natAbort = new AbortController()
  const natType: Promise<DirectoryNatType> = (o.capabilities.natType?.(natAbort.signal) ?? Promise.resolve('unknown' as const)).catch(() => 'unknown' as const)
  const directoryTarget = o.directory === undefined ? undefined : { url: o.directory.url, timeoutMs: DIRECTORY_TIMEOUT_MS }

  /** Set once the ladder exists (the rung context's triggers are built before it). */
  const ladderRef: { current: Ladder | undefined } = { current: undefined }
  let registrar: Registrar | undefined
  const front: DirectFront = await createDirectFront({
    handler,
    maxConnections: MAX_HTTP_CONNECTIONS,
    headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS,
    maxRequestBodyBytes: MAX_REQUEST_BODY_BYTES,
    maxConcurrent,
    taskTimeoutMs: o.taskTimeoutMs ?? FORWARD_TIMEOUT_MS,
    health: () => status(),
    metrics: () => reachMetrics(status()),
    logger: log
  }, o.host ?? '::', o.port ?? 9484)

  const learnedHttp = new Map<string, string>()
  const shuffledList = shuffled(o.relays ?? [])
  const relays = async (signal: AbortSignal): Promise<RelayCandidate[]> => {
    if (shuffledList.length > 0 || directoryTarget === undefined) return shuffledList
    const found = electRelays(o.nodeId, await discoverNodes({ ...directoryTarget, timeoutMs: 5000 }, intent, true, signal))
    for (const c of found) if (c.httpUrl !== undefined) learnedHttp.set(candidateLabel(c), c.httpUrl)
    return found
  }
  const reflectors = (): string[] => {
    if (o.reflectors !== undefined && o.reflectors.length > 0) return o.reflectors
    const fromRelays = shuffledList.map(c => learnedHttp.get(candidateLabel(c)) ?? `http://${formatHostPort(unbracketHost(c.host), DEFAULT_RELAY_HTTP_PORT)}`)
    return [...new Set([...fromRelays, ...learnedHttp.values()])]
  }
  const bindTimeoutMs = o.bindTimeoutMs ?? 5000

  const bindRelay = createRelayBinder({
    nodeId: o.nodeId, intent, models, handler, maxConcurrent, directoryTarget, bindTimeoutMs,
    stopGraceMs: o.stopGraceMs ?? STOP_GRACE_MS,
    presetToken: o.directory?.nodeToken,
    registrar: () => registrar,
    onDrop: reason => { ladderRef.current?.trigger(reason) },
    onBound: (label, httpUrl) => { learnedHttp.set(label, httpUrl) },
    logger: log
  })

  const ctx: RungContext = {
    caps: o.capabilities,
    front,
    reflectors,
    verifyTimeoutMs: o.verifyTimeoutMs ?? 3000,
    mapTimeoutMs: o.mapTimeoutMs ?? 2000,
    leaseSeconds: o.leaseSeconds ?? 3600,
    trigger: reason => { ladderRef.current?.trigger(reason) },
    relays,
    bindRelay
  }

  if (directoryTarget !== undefined) {
    registrar = createRegistrar({
      target: directoryTarget,
      nodeId: o.nodeId,
      nodeToken: o.directory?.nodeToken,
      basePayload: { ...defaultPayload(intent, models, maxConcurrent), ...o.directory?.payload },
      natType,
      heartbeatMs: o.heartbeatMs ?? 30_000,
      retryMs: o.registerRetryMs ?? 5_000,
      load: () => ({ load: running / maxConcurrent, activeJobs: running }),
      onLateRefusal: reason => { ladderRef.current?.trigger(`directory refused the rung: ${reason}`) },
      logger: log
    })
  }
  const reg = registrar
  const lad = new Ladder({
    ctx,
    timings,
    publish: async active => await (reg?.publish(active) ?? Promise.resolve(undefined)),
    unpublish: () => { reg?.unpublish() },
    supervised: o.supervised === true,
    logger: log,
    addressKey: () => { const a = o.capabilities.localAddresses(); return [...a.ipv4, ...a.ipv6].join(' ') }
  })
  ladderRef.current = lad
  lad.on('line', l => emitter.emit('line', l))
  lad.on('change', t => emitter.emit('change', t))
  lad.on('give-up', () => emitter.emit('give-up'))

  function status (): Record<string, unknown> {
    const current = lad.current
    return {
      node_id: o.nodeId,
      rung: current?.rung ?? null,
      endpoint: current?.endpoint ?? null,
      transport_method: current?.transportMethod ?? null,
      exposure_mode: current?.exposureMode ?? null,
      rung_state: current?.state() ?? null,
      unreachable_since: lad.unreachableSince === undefined ? null : new Date(lad.unreachableSince).toISOString(),
      transitions: lad.transitions.slice(-10),
      transitions_total: lad.transitions.length,
      registration: reg === undefined ? { state: 'off' } : { state: reg.state, registrations: reg.registrations, last_error: reg.lastError ?? null },
      tasks_running: running
    }
  }

  let stopping: Promise<void> | undefined
  const node = Object.assign(emitter, {
    port: front.port,
    status,
    start: async () => { await lad.start() },
    recheck: (reason: string) => { lad.trigger(reason) },
    stop: async () => {
      stopping ??= (async () => {
        natAbort.abort()
        await reg?.stop(AbortSignal.timeout(DIRECTORY_TIMEOUT_MS)).catch((err: unknown) => { log.warn({ reason: errorMessage(err) }, 'deregister failed') })
        await lad.stop()
        await front.close(o.stopGraceMs ?? STOP_GRACE_MS)
        backend?.close()
      })()
      await stopping
    }
  }) as ReachNode
  return node
}
