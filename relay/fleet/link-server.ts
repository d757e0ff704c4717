/**
 * The internal listener of a fleet relay: other relays of the fleet deliver calls for workers
 * bound here (`POST /fleet/v1/call`, authenticated by {@link LinkVerifier}). It serves local
 * sessions only and never forwards again, so a call crosses at most one relay-to-relay hop and
 * can never loop. Deadlines and cancellation are the caller's: the call's timeout travels in
 * the signed metadata, and a caller that goes away aborts the call here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { readBody } from '../../src/http/read-body.ts'
import type { Logger } from '../../src/log.ts'
import { encodeLifecycleResponse } from '../../src/protocol/messages.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import type { FleetHost } from '../fleet-plugin.ts'
import type { BoundWorkerSession } from '../session.ts'
import type { LinkVerifier, LinkMeta } from './link-auth.ts'
import { sendLinkError, streamErrorFrame } from './link-codec.ts'

/** Path of every relay-to-relay call. */
export const LINK_CALL_PATH = '/fleet/v1/call'

/** Options for {@link LinkServer}. */
export interface LinkServerOptions {
  verifier: LinkVerifier
  /** Largest call body accepted. */
  maxBodyBytes: number
  /** Open connections from other relays. */
  maxConnections: number
  logger: Logger
}

/** The internal relay-to-relay listener. */
export class LinkServer {
  readonly #o: LinkServerOptions
  readonly #server: Server
  readonly #inflight = new Set<AbortController>()
  #host: FleetHost | undefined

  constructor (o: LinkServerOptions) {
    this.#o = o
    this.#server = createServer({ keepAlive: true, noDelay: true, requestTimeout: 0 }, (req, res) => { this.#onRequest(req, res) })
    this.#server.maxConnections = o.maxConnections
    this.#server.on('error', (err) => { o.logger.error({ err }, 'fleet link listener error') })
  }

  /** Listens; resolves with the bound port. */
  async listen (host: string, port: number, fleetHost: FleetHost): Promise<number> {
    this.#host = fleetHost
    return (await listenTcp(this.#server, { host, port })).port
  }

  /** Stops accepting, aborts the calls in flight (their sessions are closing anyway), closes every connection. */
  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
    for (const ac of this.#inflight) ac.abort(new ToolkitError(ErrorCode.SessionClosed, 'owner relay is shutting down'))
    this.#server.closeAllConnections()
    await closed
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    const ac = new AbortController()
    this.#inflight.add(ac)
    req.on('error', () => {})
    res.once('close', () => {
      this.#inflight.delete(ac)
      if (!res.writableFinished) ac.abort(new ToolkitError(ErrorCode.Aborted, 'calling relay went away'))
    })
    this.#handle(req, res, ac.signal).catch((err: unknown) => {
      this.#o.logger.error({ err }, 'fleet link handler failed')
      if (!res.headersSent) sendLinkError(res, new ToolkitError(ErrorCode.FleetLink, errorMessage(err)))
      else res.destroy()
    })
  }

  async #handle (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    if (req.method !== 'POST' || req.url !== LINK_CALL_PATH) {
      sendLinkError(res, new ToolkitError(ErrorCode.BadRequest, 'unknown fleet link route'), 404)
      return
    }
    let body: Buffer
    try {
      body = await readBody(req, this.#o.maxBodyBytes, signal)
    } catch (err) {
      sendLinkError(res, err)
      return
    }
    const verdict = this.#o.verifier.verify(req.headers, body)
    if (!verdict.ok) {
      this.#o.logger.warn({ why: verdict.why, from: req.socket.remoteAddress }, 'fleet link call refused')
      sendLinkError(res, new ToolkitError(ErrorCode.FleetLink, `fleet link authentication failed: ${verdict.why}`), 401)
      return
    }
    const session = this.#host?.alive(verdict.meta.w)
    if (session === undefined) {
      sendLinkError(res, new ToolkitError(ErrorCode.SessionNotFound, 'no alive relay session for this worker', { details: { workerId: verdict.meta.w } }))
      return
    }
    if (verdict.meta.k === 'call') {
      let answer: Buffer
      try {
        answer = await session.call(body, { signal, timeoutMs: verdict.meta.to })
      } catch (err) {
        sendLinkError(res, err)
        return
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length })
      res.end(answer)
      return
    }
    await this.#stream(res, session, body, verdict.meta, signal)
  }

  async #stream (res: ServerResponse, session: BoundWorkerSession, body: Buffer, meta: LinkMeta, signal: AbortSignal): Promise<void> {
    let waiter
    try {
      waiter = session.openStream(body, { sessionId: meta.s, taskId: meta.ti }, { signal, timeoutMs: meta.to })
    } catch (err) {
      sendLinkError(res, err)
      return
    }
    res.writeHead(200, { 'content-type': 'application/x-iicp-frames' })
    try {
      for await (const event of waiter) {
        // Wait for the calling relay to read, so a slow reader backs up into the waiter's bounded buffer.
        if (!res.write(encodeLifecycleResponse(event))) await drained(res, signal)
      }
    } catch (err) {
      if (!res.destroyed) res.write(streamErrorFrame(err))
    }
    res.end()
  }
}

async function drained (res: ServerResponse, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
    signal.addEventListener('abort', done, { once: true })
  })
}
