/**
 * Fetches a one-use relay bind ticket from the directory (spec §3.3):
 * `POST {url}/v1/relay/ticket`, `Authorization: Bearer <node_token>`, `X-Node-Id: <worker_id>`,
 * body `{"relay_node_id": …}` or `{}`; a 2xx `{"ticket": "<token>"}` yields the ticket.
 */
import { ErrorCode, ToolkitError, errorMessage } from '../src/errors.ts'
import type { Logger } from '../src/log.ts'
import { joinUrl, postJson } from './http-json.ts'

/** Options for {@link fetchBindTicket}. */
export interface FetchTicketOptions {
  /** Directory base URL. */
  url: string
  /** The worker's node token. */
  nodeToken: string
  /** The worker id, sent as `X-Node-Id`. */
  workerId: string
  /** The relay's node id; the body is `{}` without it. */
  relayNodeId?: string | undefined
  /** Request deadline (upstream Python: 10 s; Rust has none, spec §6.2 item 19). */
  timeoutMs: number
  /** Cancels the fetch. */
  signal?: AbortSignal | undefined
}

/**
 * Requests a ticket. Rejects with ERR_TICKET_FETCH when the directory fails, times out, or
 * answers without a usable `ticket` string, and with the signal's reason when `signal` fires.
 */
export async function fetchBindTicket (o: FetchTicketOptions): Promise<string> {
  const reply = await postJson(joinUrl(o.url, '/v1/relay/ticket'), o.relayNodeId === undefined ? {} : { relay_node_id: o.relayNodeId }, {
    what: 'bind ticket fetch',
    errorCode: ErrorCode.TicketFetch,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    headers: { authorization: `Bearer ${o.nodeToken}`, 'x-node-id': o.workerId }
  })
  if (reply.status < 200 || reply.status >= 300) {
    throw new ToolkitError(ErrorCode.TicketFetch, `bind ticket fetch answered HTTP ${reply.status}`, { details: { status: reply.status } })
  }
  const ticket = typeof reply.json === 'object' && reply.json !== null ? (reply.json as Record<string, unknown>).ticket : undefined
  if (typeof ticket !== 'string' || ticket === '') {
    throw new ToolkitError(ErrorCode.TicketFetch, 'bind ticket fetch answered without a "ticket" string', { details: { status: reply.status } })
  }
  return ticket
}

/**
 * Fetches a ticket, or returns undefined after logging why not: a failed fetch means
 * "bind without a ticket", as upstream. Only a fired `signal` rejects.
 */
export async function fetchBindTicketOrNone (o: FetchTicketOptions, logger: Logger): Promise<string | undefined> {
  try {
    return await fetchBindTicket(o)
  } catch (err) {
    if (o.signal?.aborted === true) throw err
    logger.warn({ reason: errorMessage(err), url: o.url }, 'bind ticket fetch failed; binding without a ticket')
    return undefined
  }
}
