/**
 * The calling side of the internal link ({@link RemoteCalls}): finds the relay that owns a
 * worker id (Redis, with a short per-id cache) and carries the call there over keep-alive
 * HTTP, signed with the fleet secret. The answer, error and timeout are the owner's, so a
 * forwarded call ends exactly like a local one. A call is delivered at most once: the only
 * retry is after the owner answered "not bound here" (the cached owner was stale, nothing ran),
 * with a fresh look-up. Without Redis a look-up fails at once with ERR_FLEET_UNAVAILABLE.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http'
import { abortError } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { MAX_FRAME_PAYLOAD_BYTES } from '../../src/limits.ts'
import { FrameDecoder, MsgType } from '../../src/protocol/frame.ts'
import { parseResponse, type LifecycleEvent } from '../../src/protocol/messages.ts'
import type { RemoteCallOptions, RemoteCalls } from '../fleet-plugin.ts'
import type { StreamIds } from '../session.ts'
import { signLink, type LinkMeta } from './link-auth.ts'
import { parseLinkError } from './link-codec.ts'
import { LINK_CALL_PATH } from './link-server.ts'
import { fleetUnavailable, type OwnerRecord, type RedisStore } from './redis-store.ts'

/** Owner look-ups cached at most. */
const MAX_CACHED_OWNERS = 65_536
/** Other relays kept a connection pool for at most. */
const MAX_AGENTS = 1024

/** Options for {@link LinkClient}. */
export interface LinkClientOptions {
  store: RedisStore
  fleetId: string
  instanceId: string
  secret: string
  locateCacheMs: number
  linkGraceMs: number
  linkMaxSockets: number
}

/** A sent call whose answer head has arrived. */
interface Sent {
  req: ClientRequest
  res: IncomingMessage
  clear: () => void
  touch: () => void
}

interface Located {
  record: OwnerRecord
  cached: boolean
}

function noSession (workerId: string): ToolkitError {
  return new ToolkitError(ErrorCode.SessionNotFound, 'no alive relay session for this worker', { details: { workerId } })
}

function linkFailure (err: unknown): ToolkitError {
  if (isToolkitError(err)) return err
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return new ToolkitError(ErrorCode.FleetLink, `owner relay link failed (${code ?? errorMessage(err)})`, { cause: err })
}

/** Reads a whole answer of at most `limit` bytes. */
async function readAnswer (res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      res.destroy()
      throw new ToolkitError(ErrorCode.FleetLink, `owner relay answer exceeds ${limit} bytes`)
    }
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size)
}

/** Forwards calls to the relays that own their workers. */
export class LinkClient implements RemoteCalls {
  readonly #o: LinkClientOptions
  readonly #owners = new Map<string, { record: OwnerRecord, at: number }>()
  readonly #agents = new Map<string, Agent>()

  constructor (o: LinkClientOptions) {
    this.#o = o
  }

  async call (workerId: string, taskJson: Uint8Array, options: RemoteCallOptions): Promise<Buffer> {
    const meta: LinkMeta = { w: workerId, k: 'call', to: options.timeoutMs }
    return await this.#withOwner(workerId, async record => {
      const { req, res, clear } = await this.#send(record, meta, taskJson, options)
      try {
        const body = await readAnswer(res, MAX_FRAME_PAYLOAD_BYTES + 1024)
        if (res.statusCode === 200) return body
        throw parseLinkError(body, res.statusCode ?? 0)
      } catch (err) {
        throw req.destroyed && isToolkitError(req.errored) ? req.errored : linkFailure(err)
      } finally {
        clear()
      }
    })
  }

  openStream (workerId: string, taskJson: Uint8Array, ids: StreamIds, options: RemoteCallOptions): AsyncGenerator<LifecycleEvent> {
    const meta: LinkMeta = { w: workerId, k: 'stream', to: options.timeoutMs }
    if (ids.sessionId !== undefined) meta.s = ids.sessionId
    if (ids.taskId !== undefined) meta.ti = ids.taskId
    return this.#stream(workerId, meta, taskJson, options)
  }

  async health (workerId: string): Promise<{ models: readonly string[] } | undefined> {
    try {
      return { models: (await this.#locate(workerId, false)).record.m }
    } catch (err) {
      if (isToolkitError(err, ErrorCode.SessionNotFound)) return undefined
      throw err
    }
  }

  /** Drops every pooled connection. */
  close (): void {
    for (const agent of this.#agents.values()) agent.destroy()
    this.#agents.clear()
    this.#owners.clear()
  }

  async * #stream (workerId: string, meta: LinkMeta, taskJson: Uint8Array, options: RemoteCallOptions): AsyncGenerator<LifecycleEvent> {
    const opened = await this.#withOwner(workerId, async record => {
      const sent = await this.#send(record, meta, taskJson, options)
      if (sent.res.statusCode === 200) return sent
      try {
        throw parseLinkError(await readAnswer(sent.res, 64 * 1024), sent.res.statusCode ?? 0)
      } finally {
        sent.clear()
      }
    })
    const { req, res, clear, touch } = opened
    const decoder = new FrameDecoder()
    let finished = false
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        // The deadline of a stream is per event, as for a local stream.
        touch()
        for (const frame of decoder.push(chunk)) {
          if (frame.type === MsgType.Close) throw parseLinkError(frame.payload, 200)
          const msg = parseResponse(frame.payload)
          if (msg.kind !== 'lifecycle') throw new ToolkitError(ErrorCode.FleetLink, 'owner relay sent a buffered answer on a stream')
          finished = msg.event.isFinal
          yield msg.event
        }
      }
      if (!finished) throw new ToolkitError(ErrorCode.FleetLink, 'owner relay ended the stream before its final event')
    } catch (err) {
      throw req.destroyed && isToolkitError(req.errored) ? req.errored : linkFailure(err)
    } finally {
      clear()
      if (!res.complete) req.destroy()
    }
  }

  /** Runs `attempt` against the owner; once more with a fresh look-up if a cached owner no longer has the worker. */
  async #withOwner<T> (workerId: string, attempt: (record: OwnerRecord) => Promise<T>): Promise<T> {
    const located = await this.#locate(workerId, false)
    try {
      return await attempt(located.record)
    } catch (err) {
      this.#owners.delete(workerId)
      if (!located.cached || !isToolkitError(err, ErrorCode.SessionNotFound)) throw err
    }
    return await attempt((await this.#locate(workerId, true)).record)
  }

  async #locate (workerId: string, fresh: boolean): Promise<Located> {
    const hit = this.#owners.get(workerId)
    if (!fresh && hit !== undefined && performance.now() - hit.at < this.#o.locateCacheMs) return { record: hit.record, cached: true }
    const record = await this.#o.store.owner(workerId)
    // An entry naming this relay is a session that just ended here: nothing to forward to.
    if (record === undefined || record.i === this.#o.instanceId) {
      this.#owners.delete(workerId)
      if (record === undefined && this.#o.store.rebuilding) throw fleetUnavailable('the fleet directory is being rebuilt after a Redis restart')
      throw noSession(workerId)
    }
    this.#owners.delete(workerId)
    if (this.#owners.size >= MAX_CACHED_OWNERS) {
      const oldest = this.#owners.keys().next().value
      if (oldest !== undefined) this.#owners.delete(oldest)
    }
    this.#owners.set(workerId, { record, at: performance.now() })
    return { record, cached: false }
  }

  #agent (url: string): Agent {
    let agent = this.#agents.get(url)
    if (agent === undefined) {
      if (this.#agents.size >= MAX_AGENTS) {
        const [oldUrl, old] = this.#agents.entries().next().value as [string, Agent]
        old.destroy()
        this.#agents.delete(oldUrl)
      }
      agent = new Agent({ keepAlive: true, maxSockets: this.#o.linkMaxSockets, maxFreeSockets: this.#o.linkMaxSockets, scheduling: 'lifo' })
      this.#agents.set(url, agent)
    }
    return agent
  }

  /**
   * Sends one signed call and resolves once the answer's head has arrived. The deadline (the
   * call's own plus the link grace; `touch` restarts it, for streams) and the caller's signal
   * destroy the request with ERR_FORWARD_TIMEOUT / ERR_ABORTED; `clear` must be called when
   * the answer is consumed.
   */
  async #send (record: OwnerRecord, meta: LinkMeta, body: Uint8Array, options: RemoteCallOptions): Promise<Sent> {
    const limitMs = options.timeoutMs + this.#o.linkGraceMs
    const headers = signLink(this.#o.secret, this.#o.fleetId, this.#o.instanceId, meta, body)
    const signal = options.signal
    let req: ClientRequest | undefined
    const onAbort = (): void => { req?.destroy(abortError(signal, 'fleet link call')) }
    const timer = setTimeout(() => {
      req?.destroy(new ToolkitError(ErrorCode.ForwardTimeout, `owner relay did not answer within ${options.timeoutMs} ms`, { details: { timeoutMs: options.timeoutMs } }))
    }, limitMs)
    const clear = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const r = request(`${record.u}${LINK_CALL_PATH}`, {
          method: 'POST',
          agent: this.#agent(record.u),
          headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': body.length }
        }, resolve)
        req = r
        r.on('error', (err) => { reject(linkFailure(isToolkitError(r.errored) ? r.errored : err)) })
        if (signal?.aborted === true) onAbort()
        else signal?.addEventListener('abort', onAbort, { once: true })
        r.end(body)
      })
      return { req: req as unknown as ClientRequest, res, clear, touch: () => { timer.refresh() } }
    } catch (err) {
      clear()
      throw err
    }
  }
}
