/**
 * One authenticated link connection from this relay to another relay of the fleet, carrying
 * many calls at once (link-wire.ts). Each call is an id with a handler for the owner's frames;
 * when the connection fails, every call on it fails with ERR_FLEET_LINK at once.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { InFlightMap } from '../../src/in-flight-map.ts'
import { LinkSender } from './link-sender.ts'
import { LinkDecoder, LinkMac, LinkType, authMac, authOkMac, encodeCallHead, encodeLinkFrame, macEqual, offersBatching, type LinkFrame, type LinkMeta } from './link-wire.ts'

/** Calls in flight on one channel; more fail at once rather than queue without bound. */
const MAX_CALLS = 65_536

/** Receives the owner's frames for one call. */
export interface CallSink {
  /** A RESULT, ERROR, EVENT or END frame for this call. */
  frame: (type: number, body: Buffer) => void
  /** The channel failed; the call cannot complete. */
  fail: (err: ToolkitError) => void
}

function linkError (message: string, cause?: unknown): ToolkitError {
  return new ToolkitError(ErrorCode.FleetLink, message, cause === undefined ? {} : { cause })
}

/** A link connection to one owner relay. */
export class LinkChannel {
  /** Resolves once authenticated; rejects with ERR_FLEET_LINK. */
  readonly ready: Promise<void>
  readonly #socket: Socket
  readonly #decoder = new LinkDecoder()
  readonly #calls = new InFlightMap<number, CallSink>()
  readonly #nonce = randomBytes(16)
  readonly #secret: string
  readonly #fleetId: string
  readonly #from: string
  #mac: LinkMac | undefined
  #sender: LinkSender | undefined
  #challenge: Buffer | undefined
  #nextId = 1
  #failure: ToolkitError | undefined
  #settleReady!: (err?: ToolkitError) => void

  /** Connects to `host:port`; `onClosed` runs once when the channel is unusable. */
  constructor (host: string, port: number, o: { secret: string, fleetId: string, from: string, connectTimeoutMs: number }, onClosed: () => void) {
    this.#secret = o.secret
    this.#fleetId = o.fleetId
    this.#from = o.from
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (err) => { if (err === undefined) resolve(); else reject(err) }
    })
    this.ready.catch(() => {})
    const socket = connect({ host, port, noDelay: true })
    this.#socket = socket
    const timer = setTimeout(() => { socket.destroy(linkError(`owner relay ${host}:${port} did not authenticate within ${o.connectTimeoutMs} ms`)) }, o.connectTimeoutMs)
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    socket.on('error', () => {})
    socket.once('close', () => {
      clearTimeout(timer)
      const err = this.#failure ?? (socket.errored instanceof ToolkitError ? socket.errored : linkError(`owner relay link to ${host}:${port} closed${socket.errored === null ? '' : ` (${(socket.errored as NodeJS.ErrnoException).code ?? errorMessage(socket.errored)})`}`, socket.errored ?? undefined))
      this.#failure = err
      this.#settleReady(err)
      for (const sink of this.#calls.takeAll()) sink.fail(err)
      onClosed()
    })
    void this.ready.then(() => { clearTimeout(timer) }, () => {})
  }

  /** True while the channel is authenticated and can carry calls. */
  get usable (): boolean {
    return this.#sender !== undefined && !this.closed
  }

  /** True once the channel can no longer carry calls. */
  get closed (): boolean {
    return this.#failure !== undefined || this.#socket.destroyed
  }

  /** Starts a call; returns its id (for {@link LinkChannel.cancel}). Throws ERR_FLEET_LINK. */
  call (meta: LinkMeta, task: Uint8Array, sink: CallSink): number {
    if (this.#sender === undefined || this.closed) throw this.#failure ?? linkError('owner relay link is not ready')
    if (this.#calls.size >= MAX_CALLS) throw linkError('owner relay link at its call limit')
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    this.#calls.set(id, sink)
    this.#sender.send(LinkType.Call, id, task, encodeCallHead(meta))
    return id
  }

  /** Forgets a call; `tellOwner` sends CANCEL so the owner aborts it too. */
  finish (id: number, tellOwner: boolean): void {
    if (!this.#calls.delete(id) || !tellOwner || this.#sender === undefined || this.closed) return
    this.#sender.send(LinkType.Cancel, id, Buffer.alloc(0))
  }

  /** Closes the connection; calls on it fail. */
  close (): void {
    this.#socket.destroy()
  }

  #fail (why: string): void {
    this.#failure ??= linkError(why)
    this.#socket.destroy()
  }

  #onData (chunk: Buffer): void {
    let frames: LinkFrame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#fail(errorMessage(err))
      return
    }
    for (const f of frames) {
      if (this.closed) return
      if (this.#mac === undefined) {
        this.#handshake(f)
        continue
      }
      const opened = this.#mac.open(f)
      if (opened === undefined) {
        this.#fail('owner relay sent a frame with a bad MAC or a malformed batch')
        return
      }
      for (const g of opened) {
        const sink = this.#calls.get(g.id)
        if (g.type === LinkType.Result || g.type === LinkType.Error || g.type === LinkType.End) this.#calls.delete(g.id)
        sink?.frame(g.type, g.body)
      }
    }
  }

  #handshake (f: LinkFrame): void {
    if (this.#challenge === undefined) {
      if (f.type !== LinkType.Challenge || f.body.length !== 16) {
        this.#fail('owner relay did not open with a challenge')
        return
      }
      this.#challenge = Buffer.from(f.body)
      const body = Buffer.from(JSON.stringify({ from: this.#from, nonce: this.#nonce.toString('hex'), batch: true }), 'utf8')
      this.#socket.write(encodeLinkFrame(LinkType.Auth, 0, body, authMac(this.#secret, this.#fleetId, this.#challenge, body)))
      return
    }
    if (f.type !== LinkType.AuthOk || !macEqual(f.mac, authOkMac(this.#secret, this.#fleetId, this.#challenge, this.#nonce))) {
      this.#fail('owner relay failed to prove the fleet secret')
      return
    }
    this.#mac = new LinkMac(this.#secret, this.#fleetId, this.#challenge, this.#nonce, true)
    this.#sender = new LinkSender(this.#socket, this.#mac, offersBatching(f.body))
    this.#settleReady()
  }
}
