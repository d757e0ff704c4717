/**
 * RELAY_BIND admission (spec §3.1 step 3), in the exact upstream order: ticket, alive check,
 * per-IP bind rate, capacity, replay. The ticket's jti is consumed only after every other
 * check has passed, so a bind refused for another reason does not burn the ticket. Strict
 * mode with a ticket but no configured key refuses with "required", as the Python and
 * TypeScript SDKs do (not Rust's unverified accept).
 */
import type { Logger } from '../src/log.ts'
import { verifyBindTicket } from '../src/protocol/bind-ticket.ts'
import { WORKER_ID_INVALID_REASON, isValidWorkerId } from '../src/protocol/worker-id.ts'
import { rateLimitSource } from '../src/rate-limit.ts'
import type { RelayBind } from '../src/protocol/messages.ts'
import type { BindRateLimiter } from './fleet-plugin.ts'
import type { BindOutcome } from './metrics.ts'
import type { ReplayCache } from './replay-cache.ts'
import type { SessionRegistry } from './session-registry.ts'
import type { BoundWorkerSession } from './session.ts'

/** The RELAY_ACK key 3 reason text for each refusal (byte-exact upstream strings, spec §3.4; `worker_id_invalid` is ours). */
export const BIND_REJECT_REASONS = {
  worker_id_invalid: WORKER_ID_INVALID_REASON,
  ticket_invalid: 'relay bind ticket invalid',
  ticket_required: 'relay bind ticket required',
  already_bound: 'worker_id already bound to an alive session',
  rate_limited: 'relay_bind_rate_limited',
  capacity: 'relay at session capacity',
  replayed: 'relay bind ticket replayed'
} as const satisfies Record<Exclude<BindOutcome, 'ok'>, string>

/** An admission decision. `replaces` is the dead session a successful rebind takes over from. */
export type AdmissionResult =
  | { ok: true, replaces: BoundWorkerSession | undefined }
  | { ok: false, outcome: Exclude<BindOutcome, 'ok'>, reason: string }

/** What admission checks against. */
export interface AdmissionContext {
  requireTicket: boolean
  ticketPublicKey: string | undefined
  /** Ticket audience (the relay's node id, or '*'). */
  audience: string
  maxSessions: number
  registry: SessionRegistry
  /**
   * Per-source-IP bind rate (fixed window, evict-oldest). It counts binds of new worker ids that
   * passed the ticket and alive checks, including those refused by it or refused later for
   * capacity or replay; ticket refusals, alive conflicts and rebinds never reach it.
   */
  rateLimiter: BindRateLimiter
  replayCache: ReplayCache
  /** Unix-milliseconds clock for ticket expiry and the replay cache. */
  now: () => number
  logger: Logger
}

function refuse (outcome: Exclude<BindOutcome, 'ok'>): AdmissionResult {
  return { ok: false, outcome, reason: BIND_REJECT_REASONS[outcome] }
}

/**
 * Decides one RELAY_BIND from source address `ip`. With the in-memory limiter and cache every
 * step is synchronous, so binds never interleave; a fleet's shared ones answer asynchronously
 * and the accept server keeps one admission per worker id at a time.
 */
export async function admitBind (ctx: AdmissionContext, bind: RelayBind, ip: string): Promise<AdmissionResult> {
  // An id HTTP cannot address would bind "ok" and never be callable.
  if (!isValidWorkerId(bind.workerId)) return refuse('worker_id_invalid')
  const nowSeconds = Math.floor(ctx.now() / 1000)
  let claims: { jti: string, exp: number } | undefined
  if (bind.ticket !== undefined && ctx.ticketPublicKey !== undefined) {
    const v = verifyBindTicket(bind.ticket, { publicKeyHex: ctx.ticketPublicKey, workerId: bind.workerId, audience: ctx.audience, nowSeconds })
    if (!v.ok) {
      ctx.logger.info({ why: v.reason }, 'bind ticket rejected')
      return refuse('ticket_invalid')
    }
    claims = v.claims
  } else if (ctx.requireTicket) {
    return refuse('ticket_required')
  } else {
    ctx.logger.debug({ workerId: bind.workerId }, 'unsigned bind (compatibility mode)')
  }
  const existing = ctx.registry.get(bind.workerId)
  if (existing?.alive === true) return refuse('already_bound')
  // A rebind of a registered (dead) worker id is exempt from the rate limit and the cap.
  if (existing === undefined && !(await ctx.rateLimiter.hit(rateLimitSource(ip), performance.now())).allowed) return refuse('rate_limited')
  if (existing === undefined && ctx.registry.size >= ctx.maxSessions) return refuse('capacity')
  if (claims !== undefined) {
    const consumed = await ctx.replayCache.consume(claims.jti, claims.exp, nowSeconds)
    if (consumed === 'replayed') return refuse('replayed')
    if (consumed === 'full') {
      ctx.logger.warn('bind ticket replay cache is full of live tickets')
      return refuse('capacity')
    }
  }
  return { ok: true, replaces: existing }
}
