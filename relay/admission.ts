/**
 * RELAY_BIND admission (spec §3.1 step 3): the worker id alphabet, then the upstream order
 * (ticket, alive check, capacity, replay), with the per-source bind rate counted first for new
 * workers and on every refusal (issue 7: refusals are throttled too). Tickets are bounded to the
 * directory's lifetime and, outside a fleet, to those issued after the relay started. The
 * ticket's jti is consumed only after every other check has passed, so a bind refused for
 * another reason does not burn the ticket. Strict
 * mode with a ticket but no configured key refuses with "required", as the Python and
 * TypeScript SDKs do (not Rust's unverified accept).
 */
import type { Logger } from '../src/log.ts'
import { BIND_TICKET_CLOCK_SKEW_S, BIND_TICKET_LIFETIME_S } from '../src/limits.ts'
import { verifyBindTicket } from '../src/protocol/bind-ticket.ts'
import { WORKER_ID_INVALID_REASON, isValidWorkerId } from '../src/protocol/worker-id.ts'
import { rateLimitSource } from '../src/rate-limit.ts'
import type { RelayBind } from '../src/protocol/messages.ts'
import type { BindRateLimiter } from './fleet-plugin.ts'
import type { BindOutcome } from './metrics.ts'
import type { RecentHolders } from './recent-holders.ts'
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
   * Per-source bind rate (an IPv4 address or IPv6 /64; fixed window, evict-oldest). Every
   * attempt from a new worker counts before anything else, and every refused attempt counts;
   * only the binds of returning workers (see {@link AdmissionContext.recentHolders}) that
   * succeed are free.
   */
  rateLimiter: BindRateLimiter
  replayCache: ReplayCache
  /**
   * Refuse tickets issued before this Unix second: a relay whose replay cache started empty
   * (not a fleet's shared one) refuses tickets that may have been used before it started.
   */
  ticketsIssuedNotBefore?: number | undefined
  /** Sources that held a worker id in the last few minutes: their rebind is not a new worker. */
  recentHolders?: RecentHolders | undefined
  /** Unix-milliseconds clock for ticket expiry and the replay cache. */
  now: () => number
  logger: Logger
}

function refuse (outcome: Exclude<BindOutcome, 'ok'>): AdmissionResult {
  return { ok: false, outcome, reason: BIND_REJECT_REASONS[outcome] }
}

/**
 * Decides one RELAY_BIND from source address `ip`. A new worker's attempt counts toward its
 * source's bind rate first, so an over-limit source is refused before any signature is checked;
 * then the upstream order: ticket, alive check, capacity, replay. Every refusal counts. A
 * returning worker (its id registered but dead, or held by the same source within
 * `REBIND_GRACE_MS`, src/limits.ts) is not counted unless refused. With the in-memory limiter and cache
 * every step is synchronous, so binds never interleave; a fleet's shared ones answer
 * asynchronously and the accept server keeps one admission per worker id at a time.
 */
export async function admitBind (ctx: AdmissionContext, bind: RelayBind, ip: string): Promise<AdmissionResult> {
  const source = rateLimitSource(ip)
  const monotonicNow = performance.now()
  const existing = ctx.registry.get(bind.workerId)
  const returning = existing !== undefined || ctx.recentHolders?.heldRecently(bind.workerId, source, monotonicNow) === true
  let counted = false
  const count = async (): Promise<boolean> => {
    counted = true
    return (await ctx.rateLimiter.hit(source, monotonicNow)).allowed
  }
  const refuseCounted = async (outcome: Exclude<BindOutcome, 'ok'>): Promise<AdmissionResult> => {
    if (!counted) await count()
    return refuse(outcome)
  }
  if (!returning && !(await count())) return refuse('rate_limited')
  // An id HTTP cannot address would bind "ok" and never be callable.
  if (!isValidWorkerId(bind.workerId)) return await refuseCounted('worker_id_invalid')
  const nowSeconds = Math.floor(ctx.now() / 1000)
  let claims: { jti: string, exp: number } | undefined
  if (bind.ticket !== undefined && ctx.ticketPublicKey !== undefined) {
    const v = verifyBindTicket(bind.ticket, {
      publicKeyHex: ctx.ticketPublicKey,
      workerId: bind.workerId,
      audience: ctx.audience,
      nowSeconds,
      maxLifetimeSeconds: BIND_TICKET_LIFETIME_S,
      clockSkewSeconds: BIND_TICKET_CLOCK_SKEW_S,
      issuedNotBeforeSeconds: ctx.ticketsIssuedNotBefore
    })
    if (!v.ok) {
      ctx.logger.info({ why: v.reason }, 'bind ticket rejected')
      return await refuseCounted('ticket_invalid')
    }
    claims = v.claims
  } else if (ctx.requireTicket) {
    return await refuseCounted('ticket_required')
  } else {
    ctx.logger.debug({ workerId: bind.workerId }, 'unsigned bind (compatibility mode)')
  }
  if (existing?.alive === true) return await refuseCounted('already_bound')
  // A rebind of a registered (dead) worker id replaces it, so the cap does not apply.
  if (existing === undefined && ctx.registry.size >= ctx.maxSessions) return await refuseCounted('capacity')
  if (claims !== undefined) {
    const consumed = await ctx.replayCache.consume(claims.jti, claims.exp, nowSeconds)
    if (consumed === 'replayed') return await refuseCounted('replayed')
    if (consumed === 'full') {
      ctx.logger.warn('bind ticket replay cache is full of live tickets')
      return await refuseCounted('capacity')
    }
  }
  return { ok: true, replaces: existing }
}
