/**
 * The internal listener of a fleet relay: other relays of the fleet deliver calls for workers
 * bound here over authenticated link connections (link-wire.ts). It serves local sessions only
 * and never forwards again, so a call crosses at most one relay-to-relay hop and can never
 * loop. Deadlines and cancellation are the caller's: the call's timeout travels in its
 * metadata, and a CANCEL (or the connection closing) aborts the call here.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { joinBytes } from '../../src/byte-chunks.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { InFlightMap } from '../../src/in-flight-map.ts'
import type { Logger } from '../../src/log.ts'
import { encodeLifecycleResponse } from '../../src/protocol/messages.ts'
import { FRAME_HEADER_BYTES } from '../../src/limits.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import type { FleetHost } from '../fleet-plugin.ts'
import type { BoundWorkerSession } from '../session.ts'
import { errorJson } from './link-codec.ts'
import { LinkSender } from './link-sender.ts'
import { BATCH_OFFER, LinkDecoder, LinkMac, LinkType, authMac, authOkMac, decodeCallBody, encodeLinkFrame, macEqual, offersBatching, type LinkFrame, type LinkMeta } from './link-wire.ts'

/** A caller must authenticate within this long after connecting. */
const AUTH_TIMEOUT_MS = 5_000
/** Calls in flight on one link connection. */
const MAX_CALLS_PER_CONNECTION = 65_536
/** Bytes queued towards a calling relay before a stream waits for it to read. */
const HIGH_WATER_BYTES = 1024 * 1024

/** Options for {@link LinkServer}. */
export interface LinkServerOptions {
  secret: string
  fleetId: string
  /** Open connections from other relays. */
  maxConnections: number
  logger: Logger
}

/** One authenticated (or authenticating) connection from another relay. */
class LinkPeer {
  readonly #socket: Socket
  readonly #o: LinkServerOptions
  readonly #host: FleetHost
  readonly #decoder = new LinkDecoder()
  readonly #challenge = randomBytes(16)
  readonly #calls = new InFlightMap<number, AbortController>()
  readonly #authTimer: NodeJS.Timeout
  #mac: LinkMac | undefined
  #sender: LinkSender | undefined

  constructor (socket: Socket, o: LinkServerOptions, host: FleetHost) {
    this.#socket = socket
    this.#o = o
    this.#host = host
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    socket.on('close', () => {
      clearTimeout(this.#authTimer)
      for (const ac of this.#calls.takeAll()) ac.abort(new ToolkitError(ErrorCode.Aborted, 'calling relay went away'))
    })
    this.#authTimer = setTimeout(() => { socket.destroy() }, AUTH_TIMEOUT_MS)
    socket.write(encodeLinkFrame(LinkType.Challenge, 0, this.#challenge))
  }

  /** Ends the connection and aborts its calls. */
  destroy (): void {
    this.#socket.destroy()
  }

  #onData (chunk: Buffer): void {
    let frames: LinkFrame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch {
      this.#socket.destroy()
      return
    }
    for (const f of frames) {
      if (this.#socket.destroyed) return
      if (this.#mac === undefined) {
        this.#onAuth(f)
        continue
      }
      const opened = this.#mac.open(f)
      if (opened === undefined) {
        this.#refuse('bad frame MAC or malformed batch')
        return
      }
      for (const g of opened) {
        if (g.type === LinkType.Call) this.#onCall(g)
        else if (g.type === LinkType.Cancel) this.#calls.get(g.id)?.abort(new ToolkitError(ErrorCode.Aborted, 'calling relay cancelled the call'))
      }
    }
  }

  #onAuth (f: LinkFrame): void {
    if (f.type !== LinkType.Auth || !macEqual(f.mac, authMac(this.#o.secret, this.#o.fleetId, this.#challenge, f.body))) {
      this.#refuse('authentication failed')
      return
    }
    let nonce: Buffer
    try {
      nonce = Buffer.from((JSON.parse(f.body.toString('utf8')) as { nonce?: unknown }).nonce as string, 'hex')
    } catch {
      nonce = Buffer.alloc(0)
    }
    const batching = offersBatching(f.body)
    if (nonce.length !== 16) {
      this.#refuse('malformed AUTH')
      return
    }
    clearTimeout(this.#authTimer)
    this.#mac = new LinkMac(this.#o.secret, this.#o.fleetId, this.#challenge, nonce, false)
    this.#sender = new LinkSender(this.#socket, this.#mac, batching)
    this.#socket.write(encodeLinkFrame(LinkType.AuthOk, 0, batching ? BATCH_OFFER : Buffer.alloc(0), authOkMac(this.#o.secret, this.#o.fleetId, this.#challenge, nonce)))
  }

  #refuse (why: string): void {
    this.#o.logger.warn({ why, from: this.#socket.remoteAddress }, 'fleet link connection refused')
    this.#socket.destroy()
  }

  #send (type: number, id: number, body: Uint8Array): boolean {
    if (this.#socket.destroyed || this.#sender === undefined) return false
    return this.#sender.send(type, id, body)
  }

  #onCall (f: LinkFrame): void {
    const call = decodeCallBody(f.body)
    if (call === undefined || this.#calls.has(f.id)) {
      this.#send(LinkType.Error, f.id, errorJson(new ToolkitError(ErrorCode.BadRequest, 'malformed fleet link call')))
      return
    }
    if (this.#calls.size >= MAX_CALLS_PER_CONNECTION) {
      this.#send(LinkType.Error, f.id, errorJson(new ToolkitError(ErrorCode.Capacity, 'fleet link connection at its call limit')))
      return
    }
    const session = this.#host.alive(call.meta.w)
    if (session === undefined) {
      this.#send(LinkType.Error, f.id, errorJson(new ToolkitError(ErrorCode.SessionNotFound, 'no alive relay session for this worker', { details: { workerId: call.meta.w } })))
      return
    }
    const ac = new AbortController()
    this.#calls.set(f.id, ac)
    const done = (): void => { if (this.#calls.get(f.id) === ac) this.#calls.delete(f.id) }
    if (call.meta.k === 'call') {
      session.call(call.task, { signal: ac.signal, timeoutMs: call.meta.to }).then(
        answer => {
          done()
          this.#send(LinkType.Result, f.id, joinBytes(answer))
        },
        (err: unknown) => {
          done()
          if (!ac.signal.aborted) this.#send(LinkType.Error, f.id, errorJson(err))
        }
      )
      return
    }
    void this.#stream(session, f.id, call.meta, call.task, ac.signal).finally(done)
  }

  async #stream (session: BoundWorkerSession, id: number, meta: LinkMeta, task: Buffer, signal: AbortSignal): Promise<void> {
    try {
      const waiter = session.openStream(task, { sessionId: meta.s, taskId: meta.ti }, { signal, timeoutMs: meta.to })
      for await (const event of waiter) {
        this.#send(LinkType.Event, id, encodeLifecycleResponse(event).subarray(FRAME_HEADER_BYTES))
        // A calling relay that does not read backs up into the waiter's bounded buffer.
        if (this.#socket.writableLength > HIGH_WATER_BYTES) await this.#drained(signal)
      }
      this.#send(LinkType.End, id, Buffer.alloc(0))
    } catch (err) {
      if (!signal.aborted) this.#send(LinkType.Error, id, errorJson(err))
    }
  }

  async #drained (signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        this.#socket.off('drain', done)
        this.#socket.off('close', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.#socket.once('drain', done)
      this.#socket.once('close', done)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}

/** The internal relay-to-relay listener. */
export class LinkServer {
  readonly #server: Server
  readonly #peers = new Set<LinkPeer>()
  #host: FleetHost | undefined

  constructor (o: LinkServerOptions) {
    this.#server = createServer(socket => {
      if (this.#host === undefined) {
        socket.destroy()
        return
      }
      const peer = new LinkPeer(socket, o, this.#host)
      this.#peers.add(peer)
      socket.once('close', () => this.#peers.delete(peer))
    })
    this.#server.maxConnections = o.maxConnections
    this.#server.on('error', (err) => { o.logger.error({ err }, 'fleet link listener error') })
  }

  /** Listens; resolves with the bound port. */
  async listen (host: string, port: number, fleetHost: FleetHost): Promise<number> {
    this.#host = fleetHost
    return (await listenTcp(this.#server, { host, port })).port
  }

  /** Stops accepting and closes every connection (their calls are aborted; the sessions are closing anyway). */
  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
    for (const p of this.#peers) p.destroy()
    await closed
  }
}
