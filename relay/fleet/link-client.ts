/**
 * The calling side of the internal link ({@link RemoteCalls}): finds the relay that owns a
 * worker id (Redis, with a short per-id cache) and carries the call there over one
 * authenticated, multiplexed link connection per owner (link-channel.ts). The answer, error
 * and timeout are the owner's, so a forwarded call ends exactly like a local one. A call is
 * delivered at most once: the only retry is after the owner answered "not bound here" (the
 * cached owner was stale, nothing ran), with a fresh look-up. Without Redis a look-up fails at
 * once with ERR_FLEET_UNAVAILABLE.
 */
import { abortError, raceSignal } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, isToolkitError } from '../../src/errors.ts'
import { MAX_STREAM_EVENTS } from '../../src/limits.ts'
import { parseResponse, type LifecycleEvent } from '../../src/protocol/messages.ts'
import type { RemoteCallOptions, RemoteCalls } from '../fleet-plugin.ts'
import type { StreamIds } from '../session.ts'
import { streamViolation } from '../stream-waiter.ts'
import { LinkChannel, type CallSink } from './link-channel.ts'
import { parseLinkError } from './link-codec.ts'
import { LinkType, type LinkMeta } from './link-wire.ts'
import { fleetUnavailable, type OwnerRecord, type RedisStore } from './redis-store.ts'

/** Owner look-ups cached at most. */
const MAX_CACHED_OWNERS = 65_536
/** Link connections kept at most (one per other relay). */
const MAX_CHANNELS = 1024
/** Deadline for connecting and authenticating to an owner. */
const LINK_CONNECT_TIMEOUT_MS = 5_000

/** Options for {@link LinkClient}. */
export interface LinkClientOptions {
  store: RedisStore
  fleetId: string
  instanceId: string
  secret: string
  locateCacheMs: number
  linkGraceMs: number
}

interface Located {
  record: OwnerRecord
  cached: boolean
}

function noSession (workerId: string): ToolkitError {
  return new ToolkitError(ErrorCode.SessionNotFound, 'no alive relay session for this worker', { details: { workerId } })
}

function forwardTimeout (timeoutMs: number): ToolkitError {
  return new ToolkitError(ErrorCode.ForwardTimeout, `owner relay did not answer within ${timeoutMs} ms`, { details: { timeoutMs } })
}

/** Host and port of an owner's internal address (`tcp://host:port`; `http://` is accepted too). */
function hostPortOf (url: string): { host: string, port: number } {
  const u = new URL(url)
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) }
}

/** Forwards calls to the relays that own their workers. */
export class LinkClient implements RemoteCalls {
  readonly #o: LinkClientOptions
  readonly #owners = new Map<string, { record: OwnerRecord, at: number }>()
  readonly #channels = new Map<string, LinkChannel>()

  constructor (o: LinkClientOptions) {
    this.#o = o
  }

  async call (workerId: string, taskJson: Uint8Array, options: RemoteCallOptions): Promise<Buffer> {
    const meta: LinkMeta = { w: workerId, k: 'call', to: options.timeoutMs }
    // A fresh cached owner and an open channel are used without an await: most calls go where one just went.
    const located = this.#cachedOwner(workerId) ?? await this.#locate(workerId, true)
    try {
      return await this.#callOnce(located.record, meta, taskJson, options)
    } catch (err) {
      this.#owners.delete(workerId)
      if (!located.cached || !isToolkitError(err, ErrorCode.SessionNotFound)) throw err
    }
    return await this.#callOnce((await this.#locate(workerId, true)).record, meta, taskJson, options)
  }

  openStream (workerId: string, taskJson: Uint8Array, ids: StreamIds, options: RemoteCallOptions): AsyncGenerator<LifecycleEvent> {
    const meta: LinkMeta = { w: workerId, k: 'stream', to: options.timeoutMs }
    if (ids.sessionId !== undefined) meta.s = ids.sessionId
    if (ids.taskId !== undefined) meta.ti = ids.taskId
    return this.#stream(meta, taskJson, options)
  }

  async health (workerId: string): Promise<{ models: readonly string[] } | undefined> {
    try {
      return { models: (await this.#locate(workerId, false)).record.m }
    } catch (err) {
      if (isToolkitError(err, ErrorCode.SessionNotFound)) return undefined
      throw err
    }
  }

  /** Closes every link connection (their calls fail). */
  close (): void {
    for (const ch of this.#channels.values()) ch.close()
    this.#channels.clear()
    this.#owners.clear()
  }

  async #callOnce (record: OwnerRecord, meta: LinkMeta, taskJson: Uint8Array, options: RemoteCallOptions): Promise<Buffer> {
    const open = this.#channels.get(record.u)
    const channel = open?.usable === true ? open : await this.#channel(record.u, options.signal)
    const { signal, timeoutMs } = options
    return await new Promise<Buffer>((resolve, reject) => {
      let id = 0
      const finish = (tellOwner: boolean): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        channel.finish(id, tellOwner)
      }
      const timer = setTimeout(() => {
        finish(true)
        reject(forwardTimeout(timeoutMs))
      }, timeoutMs + this.#o.linkGraceMs)
      const onAbort = (): void => {
        finish(true)
        reject(abortError(signal, 'fleet link call'))
      }
      const sink: CallSink = {
        frame: (type, body) => {
          finish(false)
          if (type === LinkType.Result) resolve(body)
          else if (type === LinkType.Error) reject(parseLinkError(body))
          else reject(new ToolkitError(ErrorCode.FleetLink, `owner relay sent frame type ${type} for a buffered call`))
        },
        fail: (err) => {
          finish(false)
          reject(err)
        }
      }
      try {
        id = channel.call(meta, taskJson, sink)
      } catch (err) {
        finish(false)
        reject(err instanceof Error ? err : new ToolkitError(ErrorCode.FleetLink, String(err)))
        return
      }
      if (signal?.aborted === true) onAbort()
      else signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  async * #stream (meta: LinkMeta, taskJson: Uint8Array, options: RemoteCallOptions): AsyncGenerator<LifecycleEvent> {
    // A stream always asks Redis: it is long-lived, and a stale owner would fail it outright.
    const { record } = await this.#locate(meta.w, true)
    const channel = await this.#channel(record.u, options.signal)
    const events: LifecycleEvent[] = []
    let end: 'done' | ToolkitError | undefined
    let wake: (() => void) | undefined
    const settle = (outcome: 'done' | ToolkitError): void => {
      end ??= outcome
      wake?.()
    }
    const id = channel.call(meta, taskJson, {
      frame: (type, body) => {
        if (type === LinkType.Event) {
          try {
            const msg = parseResponse(body)
            if (msg.kind !== 'lifecycle') throw new ToolkitError(ErrorCode.FleetLink, 'owner relay sent a buffered answer on a stream')
            if (events.length >= MAX_STREAM_EVENTS) throw streamViolation('relay_backpressure_exceeded')
            events.push(msg.event)
          } catch (err) {
            settle(isToolkitError(err) ? err : new ToolkitError(ErrorCode.FleetLink, 'owner relay sent an unreadable event', { cause: err }))
            channel.finish(id, true)
          }
          wake?.()
        } else if (type === LinkType.End) settle('done')
        else if (type === LinkType.Error) settle(parseLinkError(body))
      },
      fail: settle
    })
    try {
      for (;;) {
        const next = events.shift()
        if (next !== undefined) {
          yield next
          continue
        }
        if (end === 'done') return
        if (end !== undefined) throw end
        await this.#nextEvent(options, (w) => { wake = w })
        wake = undefined
      }
    } finally {
      // Left early (consumer broke out, deadline, abort): the owner stops the stream too.
      channel.finish(id, end === undefined)
    }
  }

  /** Waits for the next stream frame, at most the per-event deadline plus the link grace. */
  async #nextEvent (options: RemoteCallOptions, setWake: (wake: () => void) => void): Promise<void> {
    const { signal, timeoutMs } = options
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        setWake(resolve)
        timer = setTimeout(() => { reject(forwardTimeout(timeoutMs)) }, timeoutMs + this.#o.linkGraceMs)
        onAbort = () => { reject(abortError(signal, 'fleet link stream')) }
        if (signal?.aborted === true) onAbort()
        else signal?.addEventListener('abort', onAbort, { once: true })
      })
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** The authenticated link connection to the owner at `url` (opened on first use). */
  async #channel (url: string, signal: AbortSignal | undefined): Promise<LinkChannel> {
    let ch = this.#channels.get(url)
    if (ch === undefined || ch.closed) {
      if (this.#channels.size >= MAX_CHANNELS) {
        const [oldUrl, old] = this.#channels.entries().next().value as [string, LinkChannel]
        old.close()
        this.#channels.delete(oldUrl)
      }
      const { host, port } = hostPortOf(url)
      const created: LinkChannel = new LinkChannel(host, port, { secret: this.#o.secret, fleetId: this.#o.fleetId, from: this.#o.instanceId, connectTimeoutMs: LINK_CONNECT_TIMEOUT_MS }, () => {
        if (this.#channels.get(url) === created) this.#channels.delete(url)
      })
      ch = created
      this.#channels.set(url, ch)
    }
    await raceSignal(ch.ready, signal, 'fleet link connect')
    return ch
  }

  /** The cached owner of `workerId` while its entry is younger than `locateCacheMs`. */
  #cachedOwner (workerId: string): Located | undefined {
    const hit = this.#owners.get(workerId)
    return hit !== undefined && performance.now() - hit.at < this.#o.locateCacheMs ? { record: hit.record, cached: true } : undefined
  }

  async #locate (workerId: string, fresh: boolean): Promise<Located> {
    const hit = fresh ? undefined : this.#cachedOwner(workerId)
    if (hit !== undefined) return hit
    const record = await this.#o.store.owner(workerId)
    this.#owners.delete(workerId)
    // An entry naming this relay is a session that just ended here: nothing to forward to.
    if (record === undefined || record.i === this.#o.instanceId) {
      if (record === undefined && this.#o.store.rebuilding) throw fleetUnavailable('the fleet directory is being rebuilt after a Redis restart')
      throw noSession(workerId)
    }
    if (this.#owners.size >= MAX_CACHED_OWNERS) {
      const oldest = this.#owners.keys().next().value
      if (oldest !== undefined) this.#owners.delete(oldest)
    }
    this.#owners.set(workerId, { record, at: performance.now() })
    return { record, cached: false }
  }
}
