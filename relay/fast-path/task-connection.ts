/**
 * One HTTP connection on the relay's task fast path. Each request whose head is a task call in
 * the fast path's subset (task-head.ts), for a worker bound to this relay, is read and answered
 * here: the body read straight into the buffer its CALL frame is built around (a large one kept
 * as the socket's chunks and scanned as they arrive), then the same checks, forwarding and
 * answers as node:http's route. The first request that is anything else hands the connection,
 * with the bytes read so far, to node:http for good. Requests pipelined behind one in progress
 * wait (reading paused) and are answered in order.
 */
import type { Socket } from 'node:net'
import { ByteChunks } from '../../src/byte-chunks.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { jsonStringAt } from '../../src/http/json-members.ts'
import { JsonObjectChunkScan, scanJsonObject } from '../../src/http/read-body.ts'
import { CHUNKED_BODY_BYTES } from '../../src/limits.ts'
import { allocBodyWithFrameRoom } from '../../src/protocol/body-frame.ts'
import { workerIdFromPathSegment } from '../../src/protocol/worker-id.ts'
import { sendBodyError } from '../http-io.ts'
import type { RouteContext } from '../routes/context.ts'
import { answerTask, TASK_NAMES } from '../routes/relay-for.ts'
import { RawAnswer } from './raw-answer.ts'
import { parseTaskHead } from './task-head.ts'

/** Bytes of pipelined requests held while one is answered; beyond it reading pauses. */
const MAX_HELD_BYTES = 64 * 1024
/** node:http's answer to a request that was not received in time. */
const REQUEST_TIMEOUT_ANSWER = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
/** node:http's answer to a request cut short by the client's end of input. */
const BAD_REQUEST_ANSWER = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'

/** What a fast-path connection needs from the HTTP front. */
export interface FastPathHost {
  readonly ctx: RouteContext
  /** True once the relay is shutting down (requests then go to node:http, which answers 503). */
  readonly closing: boolean
  /** How long an idle kept-alive connection stays open. */
  readonly keepAliveTimeoutMs: number
  /** The answer's `Connection: keep-alive` and `Keep-Alive` lines for that timeout (raw-answer.ts). */
  readonly keepAliveLines: string
  /** How long a new connection may take to send its first request's head. */
  readonly headersTimeoutMs: number
  /** How long a request may take to arrive, from its first byte. */
  readonly requestTimeoutMs: number
  /** Gives the connection and the bytes read from it (not yet answered) to node:http. */
  handOff: (socket: Socket, bytes: Buffer | undefined) => void
  /** A request is being answered: registers its abort controller and answer (for shutdown); returns the unregistration. */
  begin: (ac: AbortController, res: RawAnswer) => () => void
  /** The connection is gone or handed off. */
  release: (conn: TaskConnection) => void
  /** A request's handling threw (a bug): logged, answered 500 if nothing was written yet. */
  failed: (err: unknown, res: RawAnswer) => void
}

const S_IDLE = 0
const S_BODY = 1
const S_ANSWERING = 2
const S_DONE = 3

/** A connection accepted by the fast-path listener. */
export class TaskConnection {
  readonly #socket: Socket
  readonly #host: FastPathHost
  #state = S_IDLE
  /** When the connection's current wait ends (performance.now() time). */
  #deadline: number
  /** Whether the current wait is for a request (408 at the deadline) rather than an idle keep-alive. */
  #awaitingRequest = true
  // The request being read.
  #workerId = ''
  #need = 0
  #got = 0
  #fill: Buffer | undefined
  #parts: Buffer[] | undefined
  #scan: JsonObjectChunkScan | undefined
  // Bytes of later requests while one is answered.
  #held: Buffer[] = []
  #heldBytes = 0
  /** The request being read or answered: its cancellation, its answer, and its unregistration from the front. */
  #ac: AbortController | undefined
  #res: RawAnswer | undefined
  #unregister: (() => void) | undefined
  readonly #onData = (chunk: Buffer): void => { this.#data(chunk) }
  readonly #onEnd = (): void => { this.#end() }
  readonly #onClose = (): void => { this.#closed() }

  constructor (socket: Socket, host: FastPathHost) {
    this.#socket = socket
    this.#host = host
    this.#deadline = performance.now() + host.headersTimeoutMs
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onClose)
    socket.on('error', noop)
  }

  /** Called by the listener's sweep: ends a connection whose wait has run out. */
  expire (now: number): void {
    if ((this.#state !== S_IDLE && this.#state !== S_BODY) || now < this.#deadline) return
    this.#state = S_DONE
    if (this.#awaitingRequest) {
      // node:http's headers and request timeouts: 408, then close.
      this.#socket.end(REQUEST_TIMEOUT_ANSWER, 'latin1')
      this.#socket.destroySoon()
    } else {
      // An idle kept-alive connection past its keep-alive timeout.
      this.#socket.destroy()
    }
  }

  /** Closes the connection now (relay shutdown). */
  destroy (): void {
    this.#socket.destroy()
  }

  #data (chunk: Buffer): void {
    switch (this.#state) {
      case S_IDLE:
        this.#head(chunk)
        break
      case S_BODY:
        this.#body(chunk)
        break
      case S_ANSWERING:
        this.#hold(chunk)
        break
    }
  }

  #hold (chunk: Buffer): void {
    this.#held.push(chunk)
    this.#heldBytes += chunk.length
    if (this.#heldBytes >= MAX_HELD_BYTES) this.#socket.pause()
  }

  /** The start of a request: answered here, or the connection goes to node:http. */
  #head (bytes: Buffer): void {
    const host = this.#host
    const head = host.closing ? undefined : parseTaskHead(bytes, host.ctx.maxRequestBodyBytes)
    const workerId = head === undefined ? undefined : workerIdFromPathSegment(head.workerSegment)
    if (head === undefined || workerId === undefined || host.ctx.registry.alive(workerId) === undefined) {
      this.#handOff(bytes)
      return
    }
    this.#state = S_BODY
    this.#deadline = performance.now() + host.requestTimeoutMs
    this.#awaitingRequest = true
    this.#workerId = workerId
    // Tracked from its head on, as node:http's requests are: a relay shutting down answers it 503.
    const ac = new AbortController()
    const res = new RawAnswer(this.#socket, host.keepAliveLines, head.close, close => { this.#answered(close) })
    this.#ac = ac
    this.#res = res
    this.#unregister = host.begin(ac, res)
    this.#need = head.contentLength
    this.#got = 0
    if (head.contentLength < CHUNKED_BODY_BYTES) {
      this.#fill = allocBodyWithFrameRoom(head.contentLength)
    } else {
      this.#parts = []
      this.#scan = new JsonObjectChunkScan(TASK_NAMES)
    }
    if (bytes.length > head.bodyStart) this.#body(bytes.subarray(head.bodyStart))
    else if (head.contentLength === 0) this.#complete()
  }

  #body (chunk: Buffer): void {
    const take = Math.min(chunk.length, this.#need - this.#got)
    const part = take === chunk.length ? chunk : chunk.subarray(0, take)
    if (this.#fill !== undefined) {
      part.copy(this.#fill, this.#got)
    } else {
      this.#parts?.push(part)
      this.#scan?.push(part)
    }
    this.#got += take
    if (take < chunk.length) this.#hold(chunk.subarray(take))
    if (this.#got === this.#need) this.#complete()
  }

  #complete (): void {
    this.#state = S_ANSWERING
    const fill = this.#fill
    const parts = this.#parts
    const scan = this.#scan
    this.#fill = undefined
    this.#parts = undefined
    this.#scan = undefined
    const res = this.#res as RawAnswer
    const ac = this.#ac as AbortController
    const unregister = this.#unregister
    this.#answer(res, fill, parts, scan, ac.signal).catch((err: unknown) => { this.#host.failed(err, res) }).finally(() => {
      // The next request may already be under way (its answer began once this one's ended).
      if (this.#ac === ac) this.#done()
      else unregister?.()
    })
  }

  /** The current request is over: no longer tracked. */
  #done (): void {
    this.#unregister?.()
    this.#unregister = undefined
    this.#ac = undefined
    this.#res = undefined
  }

  async #answer (res: RawAnswer, fill: Buffer | undefined, parts: Buffer[] | undefined, scan: JsonObjectChunkScan | undefined, signal: AbortSignal): Promise<void> {
    let body: Buffer | ByteChunks
    let taskId: string
    try {
      if (fill !== undefined) {
        body = fill
        taskId = jsonStringAt(fill, scanJsonObject(fill, TASK_NAMES).spans[0]) ?? ''
      } else {
        body = new ByteChunks(parts ?? [])
        taskId = jsonStringAt(body, (scan as JsonObjectChunkScan).end().spans[0]) ?? ''
      }
    } catch (err) {
      sendBodyError(res, err)
      return
    }
    await answerTask(this.#host.ctx, res, this.#workerId, body, taskId, signal)
  }

  /** The answer has been handed to the socket: close, or take the next request once the client reads. */
  #answered (close: boolean): void {
    const socket = this.#socket
    if (this.#state === S_DONE) return
    if (close) {
      this.#state = S_DONE
      socket.destroySoon()
      return
    }
    this.#state = S_IDLE
    this.#deadline = performance.now() + this.#host.keepAliveTimeoutMs
    this.#awaitingRequest = false
    if (socket.writableNeedDrain) {
      // A client that does not read its answers gets no more of them: nothing more is read until it does.
      socket.pause()
      socket.once('drain', () => { this.#next() })
      return
    }
    this.#next()
  }

  /** Reads on: the next request's bytes held while the last was answered, then the socket. */
  #next (): void {
    if (this.#state !== S_IDLE) return
    this.#socket.resume()
    if (this.#heldBytes === 0) return
    const held = this.#held.length === 1 ? this.#held[0] as Buffer : Buffer.concat(this.#held, this.#heldBytes)
    this.#held = []
    this.#heldBytes = 0
    // The next request has begun: node:http's headers timeout applies to it, not the keep-alive one.
    this.#deadline = performance.now() + this.#host.headersTimeoutMs
    this.#awaitingRequest = true
    this.#head(held)
  }

  #handOff (bytes: Buffer): void {
    this.#state = S_DONE
    const socket = this.#socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('close', this.#onClose)
    socket.off('error', noop)
    this.#host.release(this)
    this.#host.handOff(socket, bytes)
  }

  /**
   * The client half-closed: the connection closes, cancelling a request in progress, and a
   * request whose body is incomplete gets node:http's 400 (as node:http does both).
   */
  #end (): void {
    const reading = this.#state === S_BODY
    this.#state = S_DONE
    if (reading) {
      this.#socket.end(BAD_REQUEST_ANSWER, 'latin1')
      this.#socket.destroySoon()
      return
    }
    this.#socket.destroySoon()
  }

  #closed (): void {
    this.#state = S_DONE
    if (this.#res?.ended !== true) this.#ac?.abort(new ToolkitError(ErrorCode.Aborted, 'HTTP client went away'))
    this.#done()
    this.#host.release(this)
  }
}

function noop (): void {}
