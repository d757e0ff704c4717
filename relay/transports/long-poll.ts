/**
 * The upstream HTTP long-poll worker API (spec §4.2, checklist 33–36): `POST /v1/relay/bind`,
 * `GET /v1/relay/pull`, `POST /v1/relay/result`, `POST /v1/relay/unbind`. Each bound session is
 * a {@link PollBridge} fed into the relay-accept server, so it shares the handshake, admission,
 * registry, limits and idle sweep with TCP, TLS and WebSocket workers. Error codes follow
 * upstream on the wire, including `IICP-E021` for a bad session token (spec §3.9).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { IicpCode } from '../../src/errors.ts'
import { unwrapIPv4Mapped } from '../../src/host-port.ts'
import type { Logger } from '../../src/log.ts'
import type { LifecycleEvent, RelayBind } from '../../src/protocol/messages.ts'
import { parseJsonObject, readBody } from '../../src/http/read-body.ts'
import { BIND_REJECT_REASONS } from '../admission.ts'
import { CORS_HEADERS } from '../cors.ts'
import { sendBodyError, sendError, sendJson, sendJsonBytes } from '../http-io.ts'
import { PollBridge } from './poll-bridge.ts'

/** The long-poll API's path prefix. */
export const LONG_POLL_PATH_PREFIX = '/v1/relay/'
const BAD_TOKEN = 'invalid or missing relay session token'

/** What the long-poll API needs from the relay. */
export interface LongPollContext {
  /** Feeds a new connection into the relay-accept server (handshake, admission, registry). */
  accept: (stream: Duplex, transport: 'long-poll') => void
  /** How long a pull is held before 204 (upstream: 25 s). */
  holdMs: number
  /** Deadline for the bind handshake inside the relay. */
  handshakeTimeoutMs: number
  maxRequestBodyBytes: number
  logger: Logger
}

type Answer = { status: number, code: string, message: string, reason?: string }

/** HTTP answers to refused binds (spec §3.4), keyed by the RELAY_ACK reason. */
const BIND_REFUSALS: Record<string, Answer> = {
  [BIND_REJECT_REASONS.worker_id_invalid]: { status: 422, code: IicpCode.InvalidRequest, message: BIND_REJECT_REASONS.worker_id_invalid },
  [BIND_REJECT_REASONS.ticket_invalid]: { status: 401, code: IicpCode.BindTicket, message: 'relay bind ticket invalid' },
  [BIND_REJECT_REASONS.ticket_required]: { status: 401, code: IicpCode.BindTicket, message: 'relay bind ticket required' },
  [BIND_REJECT_REASONS.already_bound]: { status: 409, code: IicpCode.AliveRebind, message: 'worker_id has an alive relay session — rebind rejected' },
  [BIND_REJECT_REASONS.rate_limited]: { status: 429, code: IicpCode.BindLimited, message: 'relay bind rate limit exceeded', reason: 'relay_bind_rate_limited' },
  [BIND_REJECT_REASONS.capacity]: { status: 503, code: IicpCode.BindLimited, message: 'relay at session capacity — try another relay' },
  [BIND_REJECT_REASONS.replayed]: { status: 409, code: IicpCode.BindTicket, message: 'relay bind ticket replayed' }
}
const NOT_ADMITTED: Answer = { status: 503, code: IicpCode.BindLimited, message: 'relay cannot accept a bind now — try again later' }

function sendNoContent (res: ServerResponse): void {
  res.writeHead(204, CORS_HEADERS)
  res.end()
}

function sendAnswer (res: ServerResponse, a: Answer): void {
  if (a.reason === undefined) sendError(res, a.status, a.code, a.message)
  else sendJson(res, a.status, { error: { code: a.code, message: a.message, reason: a.reason } })
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The RELAY_BIND a bind body asks for, or undefined when `worker_id` or a field is missing or ill-typed. */
function bindOf (body: Record<string, unknown>): RelayBind | undefined {
  const { worker_id: workerId, intent, models, bind_ticket: ticket } = body
  if (typeof workerId !== 'string' || workerId === '') return undefined
  if (intent !== undefined && typeof intent !== 'string') return undefined
  if (models !== undefined && !(Array.isArray(models) && models.every(m => typeof m === 'string'))) return undefined
  if (ticket !== undefined && ticket !== null && typeof ticket !== 'string') return undefined
  return {
    workerId,
    intent: intent ?? '',
    models: models ?? [],
    ...(typeof ticket === 'string' && ticket !== '' ? { ticket } : {})
  }
}

/** A lifecycle `event` object (the Rust NativeResponseFrame serde shape), or undefined when malformed. */
function lifecycleOf (e: Record<string, unknown>): LifecycleEvent | undefined {
  const lc = e.lifecycle
  if (typeof e.call_id !== 'string' || typeof e.status !== 'string' || typeof e.is_final !== 'boolean' || !isObject(lc)) return undefined
  if (typeof lc.task_id !== 'string' || !Number.isSafeInteger(lc.sequence) || typeof lc.event !== 'string' || typeof lc.is_final !== 'boolean') return undefined
  const out: LifecycleEvent = {
    sessionId: typeof e.session_id === 'string' ? e.session_id : '',
    callId: e.call_id,
    status: e.status,
    isFinal: e.is_final,
    lifecycle: { taskId: lc.task_id, sequence: lc.sequence as number, event: lc.event, isFinal: lc.is_final }
  }
  if (e.result !== undefined) out.result = e.result
  if (isObject(e.error)) {
    const { code, message } = e.error
    out.error = { code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' }
  }
  if (typeof e.tokens_used === 'number') out.tokensUsed = e.tokens_used
  return out
}

/** The long-poll API: the sessions by token and the four endpoints. */
export class LongPollApi {
  readonly #ctx: LongPollContext
  readonly #sessions = new Map<string, PollBridge>()

  constructor (ctx: LongPollContext) {
    this.#ctx = ctx
  }

  /** Long-poll sessions currently held by token. */
  get size (): number {
    return this.#sessions.size
  }

  /** Answers `method path` if it is a long-poll endpoint; resolves false for any other path. */
  async handle (req: IncomingMessage, res: ServerResponse, method: string, path: string, signal: AbortSignal): Promise<boolean> {
    if (!path.startsWith(LONG_POLL_PATH_PREFIX)) return false
    const name = path.slice(LONG_POLL_PATH_PREFIX.length)
    const want = name === 'pull' ? 'GET' : 'POST'
    if (name !== 'bind' && name !== 'pull' && name !== 'result' && name !== 'unbind') return false
    if (method !== want) {
      sendError(res, 405, 'method_not_allowed', `use ${want}`, { allow: `${want}, OPTIONS` })
      return true
    }
    if (name === 'bind') await this.#bind(req, res, signal)
    else if (name === 'pull') await this.#pull(req, res, signal)
    else if (name === 'result') await this.#result(req, res, signal)
    else this.#unbind(req, res)
    return true
  }

  async #bind (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    let bind: RelayBind | undefined
    try {
      bind = bindOf(parseJsonObject(await readBody(req, this.#ctx.maxRequestBodyBytes, signal)))
    } catch (err) {
      sendBodyError(res, err)
      return
    }
    if (bind === undefined) {
      sendError(res, 422, IicpCode.InvalidRequest, 'worker_id is required')
      return
    }
    const bridge = new PollBridge(unwrapIPv4Mapped(req.socket.remoteAddress ?? ''))
    this.#ctx.accept(bridge, 'long-poll')
    const ack = await bridge.handshake(bind, this.#ctx.handshakeTimeoutMs)
    if (ack?.ok !== true) {
      bridge.destroy()
      sendAnswer(res, ack === undefined ? NOT_ADMITTED : BIND_REFUSALS[ack.reason] ?? NOT_ADMITTED)
      return
    }
    const token = randomUUID().replaceAll('-', '')
    this.#sessions.set(token, bridge)
    bridge.once('close', () => { this.#sessions.delete(token) })
    sendJson(res, 200, {
      session_token: token,
      poll_timeout_s: Math.max(1, Math.round(this.#ctx.holdMs / 1000)),
      worker_endpoint_path: `/v1/relay-for/${bind.workerId}`
    })
  }

  async #pull (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const bridge = this.#session(req)
    if (bridge === undefined) {
      sendError(res, 401, IicpCode.BadSessionToken, BAD_TOKEN)
      return
    }
    const next = await bridge.pull(this.#ctx.holdMs, signal)
    if (next === 'ended') sendError(res, 401, IicpCode.BadSessionToken, 'relay session ended')
    else if (next === 'empty') sendNoContent(res)
    else sendJsonBytes(res, 200, next)
  }

  async #result (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const bridge = this.#session(req)
    if (bridge === undefined) {
      sendError(res, 401, IicpCode.BadSessionToken, BAD_TOKEN)
      return
    }
    let body: Record<string, unknown>
    try {
      body = parseJsonObject(await readBody(req, this.#ctx.maxRequestBodyBytes, signal))
    } catch (err) {
      sendBodyError(res, err)
      return
    }
    const callId = body.call_id
    if (typeof callId === 'string' && callId !== '' && isObject(body.result)) {
      bridge.result(callId, Buffer.from(JSON.stringify(body.result), 'utf8'))
      sendNoContent(res)
      return
    }
    const event = typeof callId === 'string' && callId !== '' && isObject(body.event) ? lifecycleOf(body.event) : undefined
    if (event === undefined) {
      sendError(res, 422, IicpCode.InvalidRequest, 'call_id and result are required')
      return
    }
    bridge.event(event)
    sendNoContent(res)
  }

  #unbind (req: IncomingMessage, res: ServerResponse): void {
    const bridge = this.#session(req)
    if (bridge === undefined) {
      sendError(res, 401, IicpCode.BadSessionToken, BAD_TOKEN)
      return
    }
    // The body is ignored (upstream sends `{}`); node:http discards it.
    bridge.unbind()
    sendNoContent(res)
  }

  /** The bridge the request's bearer token names, if it is still bound. */
  #session (req: IncomingMessage): PollBridge | undefined {
    const auth = req.headers.authorization
    const m = auth === undefined ? null : /^bearer\s+([0-9a-f]{32})\s*$/i.exec(auth)
    const bridge = m === null ? undefined : this.#sessions.get((m[1] as string).toLowerCase())
    return bridge === undefined || bridge.ended ? undefined : bridge
  }
}
