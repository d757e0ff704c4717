/**
 * The worker side of direct paths: answers connect offers that arrive as ordinary tasks with the
 * reserved connect intent, serves each consumer's channel (at most `maxPeers` at once), and
 * resolves `retry` tasks from the call ledger. Wrapping the worker's task handler with
 * {@link DirectServer.wrap} is the whole integration with the relay session.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import {
  CONNECT_VERSION, encodeConnectAnswer, isConnectTask, parseConnectCandidates, parseConnectOffer, parseConnectRetry, usableCandidates
} from '../../src/protocol/connect-intent.ts'
import type { IceBackend } from '../../src/transport/ice/types.ts'
import { nodeDataChannelBackend } from '../../src/transport/ice/node-datachannel.ts'
import { DEFAULT_MAX_DIRECT_PEERS, type ResolvedWorkerOptions, type Task, type TaskContext, type TaskHandler } from '../options.ts'
import { CallLedger } from './call-ledger.ts'
import { serveDirectPeer, type DirectPeer } from './direct-peer.ts'

/** A direct peer without a CALL for this long is closed. */
export const DIRECT_IDLE_MS = 5 * 60_000
/** A direct peer without any frame for this long is closed (the consumer pings every second). */
export const DIRECT_DEAD_MS = 10_000
/** Deadlines of the answering side. */
export const DIRECT_GATHER_MS = 1_500
export const DIRECT_CONNECT_MS = 15_000

/** Options for {@link createDirectServer}. */
export interface DirectServerOptions {
  backend: IceBackend
  /** Most concurrent peers. @default 64 */
  maxPeers?: number
  /** Per-peer task limits (like the relay session's). */
  maxConcurrent: number
  maxQueued: number
  taskTimeoutMs: number
  /** @default 5 minutes */
  idleAfterMs?: number
  /** @default 10 s */
  deadAfterMs?: number
  /** Bind the ICE agent to one address (tests on loopback). */
  bindAddress?: string
  /**
   * A consumer went quiet on its channel (the network may have changed, e.g. a NAT lost its
   * mappings); called at most once per {@link QUIET_HINT_MIN_MS}. The worker pings its relay session.
   */
  onPeerQuiet?: () => void
  logger: Logger
}

/** Least time between two {@link DirectServerOptions.onPeerQuiet} calls. */
export const QUIET_HINT_MIN_MS = 5_000

/** Counters for status and tests. */
export interface DirectServerStats {
  peers: number
  accepted: number
  refused: number
  retries: number
}

/** The worker's direct-path server. */
export interface DirectServer {
  /** The relay-side handler: connect tasks are handled here, everything else goes to `handler`. */
  wrap: (handler: TaskHandler) => TaskHandler
  readonly stats: DirectServerStats
  /** Closes every peer, aborting their tasks with `reason`, and frees the ICE backend. */
  close: (reason: ToolkitError) => void
}

/** Creates the direct-path server of one worker. */
export function createDirectServer (o: DirectServerOptions): DirectServer {
  const maxPeers = o.maxPeers ?? DEFAULT_MAX_DIRECT_PEERS
  const log = o.logger.child({ component: 'direct' })
  const ledger = new CallLedger()
  const peers = new Map<string, DirectPeer>()
  /** Each peer's own candidates (its trickled remote candidates are filtered by their family). */
  const localCandidates = new Map<string, readonly string[]>()
  const stats: DirectServerStats = { peers: 0, accepted: 0, refused: 0, retries: 0 }
  let closed = false
  let lastQuietHint = -Infinity
  const peerQuiet = (): void => {
    const now = performance.now()
    if (o.onPeerQuiet === undefined || now - lastQuietHint < QUIET_HINT_MIN_MS) return
    lastQuietHint = now
    o.onPeerQuiet()
  }

  async function accept (payload: unknown, handler: TaskHandler, signal: AbortSignal): Promise<unknown> {
    const offer = parseConnectOffer(payload)
    if (closed) throw new ToolkitError(ErrorCode.Aborted, 'worker stopping')
    if (peers.has(offer.peerId)) throw new ToolkitError(ErrorCode.BadRequest, 'peer_id already connected')
    if (peers.size >= maxPeers) {
      stats.refused++
      throw new ToolkitError(ErrorCode.Capacity, `direct peers at capacity (${maxPeers})`)
    }
    const peer = await o.backend.answer({ sdp: offer.sdp, candidates: offer.candidates }, {
      iceServers: offer.iceServers,
      gatherTimeoutMs: DIRECT_GATHER_MS,
      ...(o.bindAddress === undefined ? {} : { bindAddress: o.bindAddress })
    }, signal)
    if (closed || peers.has(offer.peerId) || peers.size >= maxPeers) {
      peer.close()
      throw new ToolkitError(ErrorCode.Capacity, 'direct peer refused')
    }
    const served = serveDirectPeer(peer, {
      peerId: offer.peerId,
      handler: async (task, ctx) => await ledger.run(`${offer.peerId}/${ctx.callId}`, async () => await handler(task, ctx)),
      maxConcurrent: o.maxConcurrent,
      maxQueued: o.maxQueued,
      taskTimeoutMs: o.taskTimeoutMs,
      connectTimeoutMs: DIRECT_CONNECT_MS,
      deadAfterMs: o.deadAfterMs ?? DIRECT_DEAD_MS,
      idleAfterMs: o.idleAfterMs ?? DIRECT_IDLE_MS,
      onQuiet: () => {
        log.info({ peerId: offer.peerId }, 'direct peer quiet; pinging it and the relay')
        peerQuiet()
      },
      logger: log,
      onClosed: () => {
        peers.delete(offer.peerId)
        localCandidates.delete(offer.peerId)
        stats.peers = peers.size
        if (peers.size === 0 && closed) o.backend.release()
      }
    })
    peers.set(offer.peerId, served)
    localCandidates.set(offer.peerId, peer.local.candidates)
    stats.peers = peers.size
    stats.accepted++
    log.debug({ peerId: offer.peerId, peers: peers.size }, 'connect offer answered')
    return encodeConnectAnswer({ peerId: offer.peerId, ...peer.local })
  }

  /** A connect offer, trickled candidates or a retried call over the direct channel. */
  async function connectTask (task: Task, handler: TaskHandler, ctx: TaskContext): Promise<unknown> {
    const payload = (task as { payload?: unknown }).payload
    const trickle = parseConnectCandidates(payload)
    if (trickle !== undefined) {
      const peer = peers.get(trickle.peerId)
      if (peer === undefined) throw new ToolkitError(ErrorCode.BadRequest, 'no direct peer with this peer_id')
      peer.addCandidates(usableCandidates(trickle.candidates, localCandidates.get(trickle.peerId) ?? []))
      return { result: { v: CONNECT_VERSION, peer_id: trickle.peerId } }
    }
    const retry = parseConnectRetry(payload)
    if (retry === undefined) return await accept(payload, handler, ctx.signal)
    stats.retries++
    // Same key as the channel's CALL: joins the running task or returns its outcome.
    return await ledger.run(`${retry.peerId}/${retry.callId}`, async () => await handler(retry.task as Task, ctx))
  }

  return {
    stats,
    // Any other task goes to the handler as it is, in the same call: a synchronous handler's
    // answer leaves in the CALL's own turn, without an async wrapper's promise hops.
    wrap: handler => (task, ctx) => isConnectTask(task) ? connectTask(task, handler, ctx) : handler(task, ctx),
    close: reason => {
      closed = true
      for (const p of peers.values()) p.close('worker stopping', reason)
      o.backend.release()
    }
  }
}

/** The direct-path server a worker with these options runs (node-datachannel), or undefined with `direct: false`. */
export function directServerFor (o: ResolvedWorkerOptions, logger: Logger, onPeerQuiet?: () => void): DirectServer | undefined {
  if (!o.direct) return undefined
  return createDirectServer({
    ...(onPeerQuiet === undefined ? {} : { onPeerQuiet }),
    backend: nodeDataChannelBackend,
    maxPeers: o.maxDirectPeers,
    maxConcurrent: o.maxConcurrent,
    maxQueued: o.maxQueued,
    taskTimeoutMs: o.taskTimeoutMs,
    ...(o.directBindAddress === undefined ? {} : { bindAddress: o.directBindAddress }),
    logger
  })
}
