/**
 * Extension routes: extra HTTP endpoints a composer mounts on a server it does not own (the
 * NAT dial-back reflector on the relay's HTTP front). A handler reads the request and answers
 * through a {@link RouteReply}, never the raw response, so every server keeps its own headers
 * (CORS, caching) and every error has the one body shape `{"error":{"code","message"}}`.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { sendJson, sendJsonError } from './json-response.ts'

/** Context handed to an extension route's handler. */
export interface ExtensionRouteContext {
  /** Fires when the client goes away or the server closes. */
  signal: AbortSignal
}

/** How an extension route answers: one JSON body or one JSON error, at most once. */
export interface RouteReply {
  /** Writes `body` as JSON with `status`, unless an answer has already started. */
  json: (status: number, body: unknown, headers?: OutgoingHttpHeaders) => void
  /** Writes `{"error":{"code","message"}}` with `status`, unless an answer has already started. */
  error: (status: number, code: string, message: string, headers?: OutgoingHttpHeaders) => void
}

/** An extra HTTP route mounted on a server (e.g. the NAT dial-back reflector on the relay's HTTP front). */
export interface ExtensionRoute {
  /** HTTP method. */
  method: 'GET' | 'POST'
  /** Exact path (no query string), e.g. `/v1/nat/dialback`. */
  path: string
  /** `false`: the server adds no CORS headers to its answers and answers no CORS preflight for its path (e.g. the dial-back reflector). @default true */
  cors?: boolean
  /** Answers one request through `reply`. A throw before an answer becomes a 500 JSON error. */
  handler: (req: IncomingMessage, reply: RouteReply, ctx: ExtensionRouteContext) => Promise<void>
}

/** The {@link RouteReply} for `res`; `headers` (e.g. CORS) go on every answer, under the answer's own. */
export function createRouteReply (res: ServerResponse, headers: OutgoingHttpHeaders = {}): RouteReply {
  return {
    json: (status, body, extra) => {
      if (res.headersSent || res.destroyed) return
      sendJson(res, status, body, { ...headers, ...extra })
    },
    error: (status, code, message, extra) => { sendJsonError(res, status, code, message, { ...headers, ...extra }) }
  }
}
