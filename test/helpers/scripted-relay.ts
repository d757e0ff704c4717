/**
 * A scripted relay-accept peer for worker tests, built from src/protocol. By default it plays
 * the upstream relay byte for byte (ACK {1:1}, RELAY_ACK ok with key 4, PONG {1:echo} as Rust
 * or {} as Python, silent close on protocol errors), and it lets a test see every frame a
 * worker sends, inject frames, push CALLs and await their RESPONSEs, and drop connections.
 * Listens on 127.0.0.1 (or ::1) port 0.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import { encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeFrame, FrameDecoder, MsgType, type Frame } from '../../src/protocol/frame.ts'
import {
  encodeAck, encodeCall, encodeClose, encodePong, encodeRelayAckError, encodeRelayAckOk, parsePingEcho, parseRelayBind,
  parseResponse, type RelayBind
} from '../../src/protocol/messages.ts'

/** How the relay answers a RELAY_BIND. `httpPort: null` sends RELAY_ACK ok without key 4. */
export type BindReply = { ok: true, httpPort?: number | null } | { ok: false, reason: string } | 'silent'

/** Options for {@link startScriptedRelay}. */
export interface ScriptedRelayOptions {
  /** `ack` answers INIT with ACK {1:1}; `silent` never answers; `wrong` answers with a PONG. @default 'ack' */
  init?: 'ack' | 'silent' | 'wrong'
  /** Decides the RELAY_ACK for each bind; `conn.index` counts connections from 0. @default ok with port 9484 */
  bind?: (bind: RelayBind, conn: ScriptedConnection) => BindReply
  /** PONG shape: Rust `{1:echo}`, Python `{}` for an empty echo, or no PONG at all. @default 'rust' */
  pong?: 'rust' | 'python' | 'none'
  /** Loopback address to listen on. @default '127.0.0.1' */
  host?: '127.0.0.1' | '::1'
}

/** A frame as received, with the time it arrived. */
export interface ReceivedFrame extends Frame {
  at: number
}

/** Default wait in the helper's `wait*` methods, so a broken test fails fast instead of hanging. */
const WAIT_MS = 5_000

/** Resolves or rejects like `promise`, or rejects after `ms` naming `what`; the timer is always cleared. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** One worker connection as the relay sees it. */
export class ScriptedConnection {
  /** 0-based accept order. */
  readonly index: number
  /** The socket (owned by the relay). */
  readonly socket: Socket
  /** `performance.now()` at accept. */
  readonly acceptedAt = performance.now()
  /** Every frame received, in order. */
  readonly frames: ReceivedFrame[] = []
  /** Every byte received, in order. */
  raw: Buffer = Buffer.alloc(0)
  /** The RELAY_BIND, once received. */
  bind: RelayBind | undefined
  /** `performance.now()` when RELAY_ACK ok was sent. */
  boundAt: number | undefined
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>
  #phase: 'init' | 'bind' | 'bound' | 'done' = 'init'
  readonly #relay: ScriptedRelayOptions
  readonly #decoder = new FrameDecoder()
  readonly #waiters: Array<{ match: (f: ReceivedFrame) => boolean, resolve: (f: ReceivedFrame) => void }> = []
  readonly #consumed = new Set<ReceivedFrame>()
  readonly #onBound: (c: ScriptedConnection) => void

  constructor (index: number, socket: Socket, relay: ScriptedRelayOptions, onBound: (c: ScriptedConnection) => void) {
    this.index = index
    this.socket = socket
    this.#relay = relay
    this.#onBound = onBound
    this.closed = new Promise<void>(resolve => { socket.once('close', () => { resolve() }) })
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
  }

  /** True after RELAY_ACK ok. */
  get bound (): boolean {
    return this.boundAt !== undefined
  }

  /** Waits for the next not-yet-awaited frame of `type` (earlier ones included). */
  async waitFrame (type: number, timeoutMs = WAIT_MS): Promise<ReceivedFrame> {
    return await this.#wait(f => f.type === type, timeoutMs, `frame type 0x${type.toString(16)}`)
  }

  /** Sends raw bytes. */
  send (bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Pushes `CALL{15:callId, 5:bstr(JSON(task))}` and returns the call id. */
  pushCall (task: unknown, callId: string = randomUUID()): string {
    this.send(encodeCall(callId, Buffer.from(JSON.stringify(task), 'utf8')))
    return callId
  }

  /** Waits for the buffered RESPONSE to `callId` and returns its parsed JSON body. */
  async waitResponse (callId: string, timeoutMs = WAIT_MS): Promise<unknown> {
    const frame = await this.#wait(f => {
      if (f.type !== MsgType.Response) return false
      const r = parseResponse(f.payload)
      return r.kind === 'buffered' && r.callId === callId
    }, timeoutMs, `RESPONSE to ${callId}`)
    const r = parseResponse(frame.payload)
    return r.kind === 'buffered' ? JSON.parse(r.body.toString('utf8')) as unknown : undefined
  }

  /** Pushes a CALL and waits for its answer. */
  async call (task: unknown, timeoutMs = WAIT_MS): Promise<unknown> {
    return await this.waitResponse(this.pushCall(task), timeoutMs)
  }

  /** Sends an empty CLOSE (as upstream peers do) and half-closes. */
  sendClose (): void {
    this.socket.end(encodeClose())
  }

  /** Half-closes without a CLOSE frame (EOF). */
  end (): void {
    this.socket.end()
  }

  /** Resets the connection. */
  destroy (): void {
    this.socket.destroy()
  }

  async #wait (match: (f: ReceivedFrame) => boolean, timeoutMs: number, what: string): Promise<ReceivedFrame> {
    const found = this.frames.find(f => !this.#consumed.has(f) && match(f))
    if (found !== undefined) {
      this.#consumed.add(found)
      return found
    }
    let waiter: { match: (f: ReceivedFrame) => boolean, resolve: (f: ReceivedFrame) => void } | undefined
    const p = new Promise<ReceivedFrame>(resolve => {
      waiter = { match, resolve }
      this.#waiters.push(waiter)
    })
    try {
      return await withTimeout(p, timeoutMs, what)
    } finally {
      const i = waiter === undefined ? -1 : this.#waiters.indexOf(waiter)
      if (i >= 0) this.#waiters.splice(i, 1)
    }
  }

  #onData (chunk: Buffer): void {
    this.raw = Buffer.concat([this.raw, chunk])
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch {
      this.socket.destroy()
      return
    }
    for (const f of frames) {
      const frame: ReceivedFrame = { ...f, at: performance.now() }
      this.frames.push(frame)
      this.#respond(frame)
      const i = this.#waiters.findIndex(w => w.match(frame))
      if (i >= 0) {
        const [w] = this.#waiters.splice(i, 1)
        this.#consumed.add(frame)
        w?.resolve(frame)
      }
    }
  }

  /** What an upstream relay does with each frame (spec §3.1). */
  #respond (frame: ReceivedFrame): void {
    if (this.#phase === 'init') {
      if (frame.type !== MsgType.Init) { this.#phase = 'done'; this.socket.destroy(); return }
      this.#phase = 'bind'
      const mode = this.#relay.init ?? 'ack'
      if (mode === 'ack') this.send(encodeAck())
      else if (mode === 'wrong') this.send(encodePong())
      return
    }
    if (this.#phase === 'bind') {
      let bind: RelayBind
      try {
        if (frame.type !== MsgType.RelayBind) throw new Error('not a bind')
        bind = parseRelayBind(frame.payload)
      } catch {
        this.#phase = 'done'
        this.socket.destroy()
        return
      }
      this.bind = bind
      const reply = this.#relay.bind?.(bind, this) ?? { ok: true }
      if (reply === 'silent') return
      if (!reply.ok) {
        this.#phase = 'done'
        this.socket.end(encodeRelayAckError(bind.workerId, reply.reason))
        return
      }
      this.#phase = 'bound'
      this.send(reply.httpPort === null
        ? encodeFrame(MsgType.RelayAck, encodeCbor(new Map<number, unknown>([[1, 'ok'], [2, bind.workerId]])))
        : encodeRelayAckOk(bind.workerId, reply.httpPort ?? 9484))
      this.boundAt = performance.now()
      this.#onBound(this)
      return
    }
    if (this.#phase !== 'bound') return
    if (frame.type === MsgType.Ping) {
      const pong = this.#relay.pong ?? 'rust'
      if (pong === 'none') return
      const echo = parsePingEcho(frame.payload)
      this.send(pong === 'python' && echo.length === 0 ? encodeFrame(MsgType.Pong, encodeCbor(new Map())) : encodePong(echo))
    } else if (frame.type === MsgType.Close) {
      this.#phase = 'done'
      this.socket.end()
    }
  }
}

/** A running scripted relay. */
export interface ScriptedRelay {
  readonly host: string
  readonly port: number
  /** Every connection so far, in accept order. */
  readonly connections: ScriptedConnection[]
  /** The next connection in accept order not yet returned by this method. */
  nextConnection: (timeoutMs?: number) => Promise<ScriptedConnection>
  /** The next bound connection not yet returned by this method. */
  nextBound: (timeoutMs?: number) => Promise<ScriptedConnection>
  /** Resets every open connection (a relay crash); the listener stays up. */
  dropAll: () => void
  /** Resets every connection and closes the listener. Idempotent. */
  close: () => Promise<void>
}

/** Starts a scripted relay on loopback, port 0. */
export async function startScriptedRelay (options: ScriptedRelayOptions = {}): Promise<ScriptedRelay> {
  const connections: ScriptedConnection[] = []
  const bound: ScriptedConnection[] = []
  let nextConn = 0
  let nextBoundIdx = 0
  let notify: Array<() => void> = []
  const wake = (): void => {
    const n = notify
    notify = []
    for (const f of n) f()
  }
  const server: Server = createServer(socket => {
    connections.push(new ScriptedConnection(connections.length, socket, options, c => { bound.push(c); wake() }))
    wake()
  })
  server.on('error', () => {})
  const host = options.host ?? '127.0.0.1'
  server.listen(0, host)
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  let closing: Promise<void> | undefined

  async function next (list: ScriptedConnection[], index: () => number, advance: () => void, timeoutMs: number, what: string): Promise<ScriptedConnection> {
    for (;;) {
      const c = list[index()]
      if (c !== undefined) {
        advance()
        return c
      }
      await withTimeout(new Promise<void>(resolve => { notify.push(resolve) }), timeoutMs, what)
    }
  }

  return {
    host,
    port: address.port,
    connections,
    nextConnection: async (timeoutMs = WAIT_MS) => await next(connections, () => nextConn, () => { nextConn++ }, timeoutMs, 'a connection'),
    nextBound: async (timeoutMs = WAIT_MS) => await next(bound, () => nextBoundIdx, () => { nextBoundIdx++ }, timeoutMs, 'a bound connection'),
    dropAll: () => {
      for (const c of connections) c.destroy()
    },
    close: async () => {
      closing ??= (async () => {
        for (const c of connections) c.destroy()
        await new Promise<void>(resolve => { server.close(() => { resolve() }) })
        await Promise.all(connections.map(async c => { await c.closed }))
      })()
      await closing
    }
  }
}
