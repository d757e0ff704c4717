/**
 * The HTTP/1.1 answer to a fast-path task call, written straight onto its socket in the form
 * node:http gives it: the status line, the given headers in order (checked with node:http's own
 * validators), then `Date`, and `Connection: keep-alive` with `Keep-Alive: timeout=N` (or
 * `Connection: close` when the client or the headers ask for it). The head and a small body
 * leave in one write.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type OutgoingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import type { AnswerWriter } from '../../src/http/json-response.ts'

/** Up to this size a body is joined to the head and written once; above, both go corked. */
const JOIN_MAX_BYTES = 64 * 1024

let dateText = ''
let dateSecond = -1

/** The `Date` header's value, formatted once a second (as node:http does). */
function httpDate (): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = new Date(now).toUTCString()
  }
  return dateText
}

/** The `Connection` and `Keep-Alive` lines of an answer whose connection stays open, built once per listener. */
export function keepAliveLines (keepAliveTimeoutMs: number): string {
  return `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`
}

/** One answer on a fast-path connection. */
export class RawAnswer implements AnswerWriter {
  readonly #socket: Socket
  readonly #keepAliveLines: string
  readonly #onEnd: (close: boolean) => void
  #close: boolean
  #head: string | undefined
  #headersSent = false
  #ended = false
  /** Set once the answer's last byte has been handed to the kernel. */
  #wasFlushed = false
  #flushed: Promise<void> | undefined
  #onFlushed: (() => void) | undefined

  /**
   * @param keepAlive - the lines from {@link keepAliveLines} for an answer whose connection stays open.
   * @param close - the client asked for `Connection: close`.
   * @param onEnd - called once the answer is handed to the socket, with whether the connection then closes.
   */
  constructor (socket: Socket, keepAlive: string, close: boolean, onEnd: (close: boolean) => void) {
    this.#socket = socket
    this.#keepAliveLines = keepAlive
    this.#close = close
    this.#onEnd = onEnd
  }

  get headersSent (): boolean {
    return this.#headersSent
  }

  get destroyed (): boolean {
    return this.#socket.destroyed
  }

  /** True once the answer has been handed to the socket. */
  get ended (): boolean {
    return this.#ended
  }

  /** Resolves once the answer has been written out, or the connection is gone. */
  async whenFlushed (): Promise<void> {
    if (this.#wasFlushed || this.#socket.destroyed) return
    this.#flushed ??= new Promise<void>(resolve => {
      this.#onFlushed = resolve
      this.#socket.once('close', resolve)
    })
    await this.#flushed
  }

  writeHead (status: number, headers: OutgoingHttpHeaders): this {
    if (this.#headersSent) throw new Error('the answer\'s head is already written')
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`
    let connection = false
    for (const name in headers) {
      const value = headers[name]
      if (value === undefined) continue
      const text = Array.isArray(value) ? value.join(', ') : String(value)
      validateHeaderName(name)
      validateHeaderValue(name, text)
      if (name.length === 10 && name.toLowerCase() === 'connection') {
        connection = true
        if (/(^|,)\s*close\s*(,|$)/i.test(text)) this.#close = true
      }
      head += `${name}: ${text}\r\n`
    }
    head += `Date: ${httpDate()}\r\n`
    if (!connection) head += this.#close ? 'Connection: close\r\n' : this.#keepAliveLines
    this.#head = `${head}\r\n`
    this.#headersSent = true
    return this
  }

  write (chunk: Buffer): boolean {
    const head = this.#takeHead()
    if (head !== undefined) this.#socket.write(head, 'latin1')
    return this.#socket.write(chunk)
  }

  end (body?: Buffer): this {
    if (this.#ended) return this
    if (!this.#headersSent) this.writeHead(200, {})
    this.#ended = true
    const head = this.#takeHead()
    const socket = this.#socket
    const flushed = (): void => {
      this.#wasFlushed = true
      this.#onFlushed?.()
    }
    if (socket.destroyed) {
      // The client went away: nothing to write, the connection's close handles the rest.
    } else if (head !== undefined && body !== undefined && body.length <= JOIN_MAX_BYTES) {
      const headBytes = Buffer.from(head, 'latin1')
      socket.write(Buffer.concat([headBytes, body], headBytes.length + body.length), flushed)
    } else {
      socket.cork()
      if (head !== undefined) socket.write(head, 'latin1')
      if (body !== undefined) socket.write(body)
      // An empty write marks the point where everything before it has been flushed.
      socket.write(EMPTY, flushed)
      socket.uncork()
    }
    this.#onEnd(this.#close)
    return this
  }

  /** Closes the connection now (an answer that cannot be completed). */
  destroy (): void {
    this.#socket.destroy()
  }

  cork (): void {
    this.#socket.cork()
  }

  uncork (): void {
    this.#socket.uncork()
  }

  #takeHead (): string | undefined {
    const head = this.#head
    this.#head = undefined
    return head
  }
}

const EMPTY = Buffer.alloc(0)
