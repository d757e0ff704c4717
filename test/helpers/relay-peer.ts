/**
 * A scripted raw-socket relay worker for tests, built from src/protocol: it puts on the wire
 * exactly what the upstream Rust/Python workers send (INIT `{1:1}`, RELAY_BIND with integer
 * keys, `PING {1:h''}`, `RESPONSE {15, 5:bstr(JSON)}`), and lets a test read every frame and
 * byte the relay sends back.
 */
import { connect, type Socket } from 'node:net'
import { FrameDecoder, MsgType, type Frame } from '../../src/protocol/frame.ts'
import {
  encodeInit, encodeRelayBind, encodeResponse, parseCall, parseRelayAck, type CallMessage, type RelayAck
} from '../../src/protocol/messages.ts'

/** Options for {@link RelayPeer.bind}. */
export interface PeerBindOptions {
  intent?: string
  models?: string[]
  ticket?: string
}

/** Answers one CALL: the returned value is sent as the RESPONSE's JSON (or raw bytes when a Buffer). */
export type CallHandler = (task: unknown, call: CallMessage) => unknown

/** Python's `json.dumps` layout (spaces after `:` and `,`), as the upstream Python worker sends. */
export function pythonJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`).join(', ')}}`
  }
  return JSON.stringify(value)
}

/** A raw TCP peer on the relay-accept port. */
export class RelayPeer {
  readonly socket: Socket
  readonly #decoder = new FrameDecoder()
  readonly #frames: Frame[] = []
  readonly #received: Buffer[] = []
  #waiter: (() => void) | undefined
  #closed = false
  #error: Error | undefined
  #handler: CallHandler | undefined
  /** Resolves when the relay's side has ended (EOF) or the socket closed. */
  readonly ended: Promise<void>

  private constructor (socket: Socket) {
    this.socket = socket
    let endedResolve!: () => void
    this.ended = new Promise(resolve => { endedResolve = resolve })
    socket.on('data', (chunk: Buffer) => {
      this.#received.push(chunk)
      try {
        for (const f of this.#decoder.push(chunk)) this.#onFrame(f)
      } catch (err) {
        this.#error = err as Error
      }
      this.#wake()
    })
    socket.on('error', (err) => { this.#error ??= err })
    socket.on('end', () => { this.#closed = true; endedResolve(); this.#wake() })
    socket.on('close', () => { this.#closed = true; endedResolve(); this.#wake() })
  }

  /**
   * Connects to a relay-accept port, optionally from a given loopback source address. With
   * `allowHalfOpen` the peer keeps its side open after the relay's FIN (a lingering worker).
   */
  static async connect (port: number, host = '127.0.0.1', localAddress?: string, allowHalfOpen = false): Promise<RelayPeer> {
    const socket = connect({ port, host, allowHalfOpen, ...(localAddress === undefined ? {} : { localAddress }) })
    socket.setNoDelay(true)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RelayPeer(socket)
  }

  /** Every byte received from the relay so far. */
  get received (): Buffer {
    return Buffer.concat(this.#received)
  }

  /** True once the relay's side has ended or the socket closed. */
  get closed (): boolean {
    return this.#closed
  }

  /** Writes raw bytes. */
  sendRaw (bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** The next frame the relay sent (CALLs go to the handler when {@link RelayPeer.serve} is on). */
  async nextFrame (timeoutMs = 2000): Promise<Frame> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const f = this.#frames.shift()
      if (f !== undefined) return f
      if (this.#error !== undefined) throw this.#error
      if (this.#closed) throw new Error('relay closed the connection')
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`)
      await this.#wait(left)
    }
  }

  /** Waits for the relay to end the connection; rejects after `timeoutMs`. */
  async expectClosed (timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.ended,
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`relay did not close within ${timeoutMs} ms`)) }, timeoutMs) })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends INIT `{1:1}` and returns the relay's answer frame. */
  async init (): Promise<Frame> {
    this.sendRaw(encodeInit())
    return await this.nextFrame()
  }

  /** Sends RELAY_BIND (after {@link RelayPeer.init}) and returns the parsed RELAY_ACK. */
  async sendBind (workerId: string, options: PeerBindOptions = {}): Promise<RelayAck> {
    this.sendRaw(encodeRelayBind({ workerId, intent: options.intent ?? 'urn:iicp:intent:llm:chat:v1', models: options.models ?? [], ...(options.ticket === undefined ? {} : { ticket: options.ticket }) }))
    const f = await this.nextFrame()
    if (f.type !== MsgType.RelayAck) throw new Error(`expected RELAY_ACK, got type ${f.type}`)
    return parseRelayAck(f.payload)
  }

  /** INIT, ACK, RELAY_BIND, RELAY_ACK: the whole upstream worker handshake. */
  async bind (workerId: string, options: PeerBindOptions = {}): Promise<RelayAck> {
    const ack = await this.init()
    if (ack.type !== MsgType.Ack) throw new Error(`expected ACK, got type ${ack.type}`)
    return await this.sendBind(workerId, options)
  }

  /** Answers every CALL with `handler(task)` as a buffered RESPONSE, as upstream workers do (concurrently). */
  serve (handler: CallHandler): void {
    this.#handler = handler
    for (const f of this.#frames.splice(0)) this.#onFrame(f)
  }

  /** Sends a RESPONSE whose key 5 is `result` as UTF-8 JSON (or raw bytes when a Buffer). */
  respond (callId: string, result: unknown): void {
    const body = Buffer.isBuffer(result) ? result : Buffer.from(JSON.stringify(result), 'utf8')
    this.sendRaw(encodeResponse(callId, body))
  }

  /** Half-closes (FIN) and waits for the relay to close too. */
  async end (): Promise<void> {
    this.socket.end()
    await this.expectClosed()
  }

  /** Destroys the socket. */
  destroy (): void {
    this.socket.destroy()
  }

  #onFrame (f: Frame): void {
    const handler = this.#handler
    if (handler === undefined || f.type !== MsgType.Call) {
      this.#frames.push(f)
      return
    }
    const call = parseCall(f.payload)
    void (async () => {
      const result = await handler(JSON.parse(call.body.toString('utf8')), call)
      if (!this.socket.destroyed) this.respond(call.callId, result)
    })()
  }

  #wake (): void {
    const w = this.#waiter
    this.#waiter = undefined
    w?.()
  }

  async #wait (ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>(resolve => {
      this.#waiter = resolve
      timer = setTimeout(resolve, ms)
    })
    clearTimeout(timer)
  }
}
