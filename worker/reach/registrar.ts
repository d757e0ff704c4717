/**
 * Tells the directory the truth about the serving rung (directory-contract.md): REGISTER on every
 * rung change with the endpoint, transport method, exposure mode, NAT type and metadata; the
 * token every register returns replaces the previous one (sent back as `current_node_token`);
 * a heartbeat every `heartbeatMs` with the load; deregister on stop. A directory that is down
 * never stops the node: the registration is retried every `retryMs` until it lands. A 422
 * refusal (`IICP-E035` routability, `IICP-E036` dial-back) is returned to the ladder, which
 * logs it and takes the next rung.
 */
import { IicpCode, errorMessage } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import {
  deregisterNode, refusalOf, registerNode, sendHeartbeat, type DirectoryTarget, type Registration
} from '../../src/directory/client.ts'
import type { DirectoryNatType } from '../../src/reach/capabilities.ts'
import type { ActiveRung } from './rungs.ts'

/** Where the registration stands, for health and metrics. */
export type RegistrationState = 'off' | 'pending' | 'registered' | 'refused' | 'deregistered'

/** Options for {@link createRegistrar}. */
export interface RegistrarOptions {
  target: DirectoryTarget
  nodeId: string
  /** A token from an earlier registration (the IICP-E050 proof for the first register). */
  nodeToken: string | undefined
  /** Register fields besides the transport ones (region, capabilities, limits, …). */
  basePayload: Record<string, unknown>
  /** The NAT type, measured once (resolves `unknown` when not measured). */
  natType: Promise<DirectoryNatType>
  heartbeatMs: number
  retryMs: number
  /** Load (0–1) and running tasks for the heartbeat. */
  load: () => { load: number, activeJobs: number }
  /** A queued registration was refused later (the ladder moves down). */
  onLateRefusal: (reason: string) => void
  logger: Logger
}

/** A running registrar. */
export interface Registrar {
  readonly state: RegistrationState
  /** The current node token (replaced on every register), for bind tickets. */
  readonly nodeToken: string | undefined
  readonly lastError: string | undefined
  readonly registrations: number
  /** Registers `active`; resolves with a refusal reason, or undefined when registered or queued for retry. */
  publish: (active: ActiveRung) => Promise<string | undefined>
  /** Nothing serves: stop heartbeating until the next publish (the directory drops the node after 90 s). */
  unpublish: () => void
  /** Deregisters (when registered) and clears every timer. */
  stop: (signal?: AbortSignal) => Promise<void>
}

/** The register payload for a serving rung. */
export function registerPayload (base: Record<string, unknown>, nodeId: string, active: ActiveRung, natType: DirectoryNatType, token: string | undefined): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    ...base,
    node_id: nodeId,
    endpoint: active.endpoint,
    transport_method: active.transportMethod,
    // A concrete nat_type with `direct` still gets the strict rule and dial-back; `unknown` is honest when unmeasured.
    nat_type: natType,
    exposure_mode: active.exposureMode,
    transport_metadata: active.metadata
  }
  delete payload.transport_endpoint
  if (token !== undefined) payload.current_node_token = token
  return payload
}

/** Creates the registrar (nothing is sent before the first publish). */
export function createRegistrar (o: RegistrarOptions): Registrar {
  let state: RegistrationState = 'off'
  let reg: Registration | undefined
  let token = o.nodeToken
  let lastError: string | undefined
  let registrations = 0
  let desired: ActiveRung | undefined
  let challenge: string | undefined
  let retry: NodeJS.Timeout | undefined
  let inFlight: Promise<string | undefined> | undefined
  const stop = new AbortController()
  const log = o.logger

  const heartbeat = setInterval(() => { void beat() }, o.heartbeatMs)
  heartbeat.unref()

  async function beat (): Promise<void> {
    if (state !== 'registered' || reg === undefined || stop.signal.aborted) return
    try {
      challenge = await sendHeartbeat(o.target, reg, { ...o.load(), challenge, hmacKey: reg.hmacKey }, stop.signal)
    } catch (err) {
      if (stop.signal.aborted) return
      lastError = errorMessage(err)
      if (refusalOf(err)?.status === 401 && desired !== undefined) {
        log.warn({ reason: lastError }, 'directory no longer knows the token; registering again')
        void attempt(desired)
      } else {
        log.warn({ reason: lastError }, 'heartbeat failed')
      }
    }
  }

  async function registerOnce (active: ActiveRung): Promise<string | undefined> {
    const natType = await o.natType
    const payload = registerPayload(o.basePayload, o.nodeId, active, natType, token)
    try {
      reg = await registerNode(o.target, payload, stop.signal)
    } catch (err) {
      if (stop.signal.aborted) return undefined
      lastError = errorMessage(err)
      const refusal = refusalOf(err)
      if (refusal !== undefined && refusal.status === 422) {
        state = 'refused'
        const what = refusal.iicpCode === IicpCode.DirectoryNotRoutable ? 'endpoint not routable' : refusal.iicpCode === IicpCode.DirectoryDialBack ? 'directory could not reach the endpoint' : 'payload refused'
        log.warn({ endpoint: active.endpoint, code: refusal.iicpCode, reason: refusal.fieldMessage }, `directory refused ${active.endpoint}: ${what}`)
        return `${refusal.iicpCode ?? refusal.code ?? 'HTTP 422'} ${what}`
      }
      state = 'pending'
      log.warn({ reason: lastError, retryMs: o.retryMs }, 'directory registration failed; serving anyway and retrying')
      clearTimeout(retry)
      retry = setTimeout(() => {
        if (desired === undefined) return
        void attempt(desired).then(refused => { if (refused !== undefined) o.onLateRefusal(refused) })
      }, o.retryMs)
      retry.unref()
      return undefined
    }
    token = reg.nodeToken
    state = 'registered'
    lastError = undefined
    registrations++
    log.info({ endpoint: active.endpoint, transport_method: active.transportMethod, exposure_mode: active.exposureMode, nat_type: natType }, 'registered with the directory')
    return undefined
  }

  async function attempt (active: ActiveRung): Promise<string | undefined> {
    // One register at a time; a newer rung waits for the older call and then registers itself.
    while (inFlight !== undefined) await inFlight
    if (active !== desired || stop.signal.aborted) return undefined
    inFlight = registerOnce(active)
    try {
      return await inFlight
    } finally {
      inFlight = undefined
    }
  }

  return {
    get state () { return state },
    get nodeToken () { return token },
    get lastError () { return lastError },
    get registrations () { return registrations },
    publish: async active => {
      desired = active
      clearTimeout(retry)
      return await attempt(active)
    },
    unpublish: () => {
      desired = undefined
      clearTimeout(retry)
      if (state === 'registered') state = 'pending'
    },
    stop: async signal => {
      clearInterval(heartbeat)
      clearTimeout(retry)
      desired = undefined
      while (inFlight !== undefined) await inFlight.catch(() => undefined)
      stop.abort()
      if (state === 'registered' && reg !== undefined) {
        try {
          await deregisterNode(o.target, reg, signal)
          state = 'deregistered'
        } catch (err) {
          log.warn({ reason: errorMessage(err) }, 'deregister failed')
        }
      }
    }
  }
}
