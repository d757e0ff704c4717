/**
 * Relay binds for the relay rung: one relay worker (worker/worker.ts) per bind, a refusal
 * (RELAY_ACK error) failing at once instead of at the deadline, the session counted as dropped
 * from its disconnect event. A worker without a directory token registers the relay route first
 * and retries when the relay requires a bind ticket (only a register issues a token).
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { DirectoryTarget } from '../../src/directory/client.ts'
import { formatHostPort, unbracketHost } from '../../src/host-port.ts'
import { DEFAULT_RELAY_HTTP_PORT } from '../../src/limits.ts'
import type { Logger } from '../../src/log.ts'
import { relayForEndpoint, type TaskHandler } from '../options.ts'
import { createWorker } from '../worker.ts'
import type { Registrar } from './registrar.ts'
import { candidateLabel, type RelayCandidate } from './relay-choice.ts'
import type { BoundRelay } from './rungs.ts'

/** What {@link createRelayBinder} needs from the node. */
export interface RelayBinderOptions {
  nodeId: string
  intent: string
  models: string[]
  handler: TaskHandler
  maxConcurrent: number
  directoryTarget: DirectoryTarget | undefined
  bindTimeoutMs: number
  stopGraceMs: number
  /** A token given by the operator (an earlier registration). */
  presetToken: string | undefined
  registrar: () => Registrar | undefined
  /** A bound session dropped (a re-check trigger). */
  onDrop: (reason: string) => void
  /** A bind learned the relay's HTTP front (RELAY_ACK key 4). */
  onBound: (label: string, httpUrl: string) => void
  logger: Logger
}

/** Creates the relay rung's `bindRelay`. */
export function createRelayBinder (b: RelayBinderOptions): (c: RelayCandidate, signal: AbortSignal) => Promise<BoundRelay> {
  const { intent, models, handler, maxConcurrent, directoryTarget, bindTimeoutMs } = b
  const log = b.logger
  /** Registers the relay route a bind to `c` creates, so a ticket fetch has a token (only a register issues one). */
  const preRegister = async (c: RelayCandidate): Promise<void> => {
    const registrar = b.registrar()
    if (registrar === undefined) return
    const label = candidateLabel(c)
    const base = new URL(c.httpUrl ?? `http://${formatHostPort(unbracketHost(c.host), DEFAULT_RELAY_HTTP_PORT)}`)
    const endpoint = relayForEndpoint(unbracketHost(base.hostname), Number(base.port === '' ? 80 : base.port), b.nodeId)
    await registrar.publish({
      rung: 'relay', endpoint, transportMethod: 'turn_relay', exposureMode: 'relay_required',
      metadata: { rung: 'relay', relay_endpoint: endpoint, relay: label, ...(c.nodeId === undefined ? {} : { relay_node_id: c.nodeId }), candidates: [endpoint] },
      check: async () => await Promise.resolve('not bound yet'),
      state: () => ({ relay: label, bound: false }),
      close: async () => { await Promise.resolve() }
    })
  }

  /** One bind attempt; a refusal (RELAY_ACK error) fails at once instead of waiting for the deadline. */
  const bindOnce = async (c: RelayCandidate, signal: AbortSignal): Promise<BoundRelay> => {
    const label = candidateLabel(c)
    const token = b.registrar()?.nodeToken ?? b.presetToken
    const worker = createWorker({
      relayHost: c.host,
      relayPort: c.port,
      workerId: b.nodeId,
      intent,
      models,
      handler,
      maxConcurrent,
      ...(directoryTarget !== undefined && token !== undefined ? { ticketDirectory: { url: directoryTarget.url, nodeToken: token, ...(c.nodeId === undefined ? {} : { relayNodeId: c.nodeId }) } } : {}),
      reconnect: { minDelayMs: 500, maxDelayMs: 5000 },
      stopGraceMs: b.stopGraceMs,
      logger: log.child({ relay: label })
    })
    let lastError: ToolkitError | undefined
    const refused = new AbortController()
    worker.on('backoff', info => {
      if (info.error === undefined) return
      lastError = info.error
      if (info.error.details?.reason !== undefined) refused.abort(info.error)
    })
    // The session's own view: `disconnect` fires before the worker leaves the bound state.
    let dropped = false
    const onDrop = (): void => {
      dropped = true
      b.onDrop(`relay ${label} session dropped`)
    }
    worker.on('disconnect', onDrop)
    worker.on('bind', () => { dropped = false })
    void worker.start().catch(() => undefined)
    try {
      const info = await worker.whenBound(AbortSignal.any([signal, refused.signal, AbortSignal.timeout(bindTimeoutMs)]))
      const httpUrl = `http://${formatHostPort(unbracketHost(c.host), info.relayHttpPort)}`
      b.onBound(label, httpUrl)
      return {
        endpoint: info.endpoint,
        httpUrl,
        bound: () => !dropped && worker.state === 'bound',
        close: async () => {
          worker.off('disconnect', onDrop)
          await worker.stop()
        }
      }
    } catch (err) {
      worker.off('disconnect', onDrop)
      await worker.stop()
      if (signal.aborted) throw err
      if (refused.signal.aborted) throw refused.signal.reason as ToolkitError
      throw new ToolkitError(ErrorCode.Aborted, `did not bind within ${bindTimeoutMs / 1000} s (${lastError?.message ?? 'no answer'})`, { cause: err })
    }
  }

  return async (c: RelayCandidate, signal: AbortSignal): Promise<BoundRelay> => {
    try {
      return await bindOnce(c, signal)
    } catch (err) {
      const needsTicket = err instanceof ToolkitError && err.code === ErrorCode.TicketRequired
      const registrar = b.registrar()
      if (!needsTicket || registrar === undefined || registrar.nodeToken !== undefined || b.presetToken !== undefined) throw err
      await preRegister(c)
      if (registrar.nodeToken === undefined) throw err
      return await bindOnce(c, signal)
    }
  }
}
