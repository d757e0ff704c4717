/**
 * The consumer library: sends tasks to one worker id through the best path. Tasks go through the
 * relay at once; the first task starts a background upgrade (ICE offer signalled through the
 * relay); new tasks move to the direct or TURN channel once it is open; a task finishes on the
 * path it started; when the channel stops answering (3.5 s without a frame) it is abandoned, its
 * unanswered tasks are re-sent through the relay as ledger retries (the worker runs each at most
 * once), and the upgrade is tried again later (soon after a working path died, then every
 * `retryMaxMs`). Every task gets exactly one answer, shaped like the relay's HTTP answer.
 */
import { EventEmitter } from 'node:events'
import { sleep } from '../../src/abort.ts'
import { ErrorCode, IicpCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { FORWARD_TIMEOUT_MS } from '../../src/limits.ts'
import { parseJsonBytes } from '../../src/http/json-text.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { CONNECT_INTENT, encodeConnectRetry } from '../../src/protocol/connect-intent.ts'
import { nodeDataChannelBackend } from '../../src/transport/ice/node-datachannel.ts'
import type { IceBackend, IceServer } from '../../src/transport/ice/types.ts'

import { CONNECT_DEADLINE_MS, openDirectChannel, type DirectChannel } from './direct-channel.ts'
import { createRelayPath, isRebindAnswer, type HttpAnswer, type RelayPath } from './relay-path.ts'
import { createConnectStats, type ConnectStats, type ConnectStatus, type PathKind } from './status.ts'
import { answerFromWorkerResult, directTaskId } from './task-answer.ts'

/** Deadline of the STUN-only first attempt when TURN servers exist. */
const DIRECT_FIRST_DEADLINE_MS = 4_000
/** A worker that answered within this long is expected back after losing its relay session. */
const RECENTLY_REACHED_MS = 60_000
/**
 * How long a task waits for such a worker to re-bind when the relay answers 404 `IICP-E030`
 * (the task never reached the worker, so sending it again is safe). A worker's first re-bind
 * attempt comes 2–4 s after it lost its session.
 */
const REBIND_WAIT_MS = 8_000
/** First and largest pause between those attempts. */
const REBIND_RETRY_MIN_MS = 250
const REBIND_RETRY_MAX_MS = 1_000

/** Options for {@link createConnectClient}. */
export interface ConnectClientOptions {
  /** The relay's HTTP base URL, e.g. `http://relay.example:9484`. */
  relayUrl: string | URL
  /** The worker id to send tasks to. */
  workerId: string
  /** Try direct/TURN paths. @default true */
  direct?: boolean
  /** ICE backend. @default node-datachannel */
  backend?: IceBackend
  /** Wait before the first new attempt after a working channel died. @default 2_000 */
  retryMinMs?: number
  /** Wait between attempts while relayed. @default 60_000 */
  retryMaxMs?: number
  /** Deadline of one task on the direct channel. @default 120_000 */
  taskTimeoutMs?: number
  /** Pooled connections to the relay. @default 64 */
  maxSockets?: number
  /** Use TURN candidates only (tests, or to hide this host's addresses from the worker). */
  relayOnly?: boolean
  /** Bind the ICE agent to one local address (tests on loopback). */
  bindAddress?: string
  logger?: Logger
}

/** A task's answer and the path that carried it. */
export interface TaskAnswer extends HttpAnswer {
  path: PathKind
}

/** Events of a {@link ConnectClient}. */
export interface ConnectClientEvents {
  /** The path new tasks take changed. */
  path: [path: PathKind]
}

/** The consumer client. */
export interface ConnectClient extends EventEmitter<ConnectClientEvents> {
  /** Sends one task (UTF-8 JSON of a task object); always resolves with one answer unless `signal` fires. */
  send: (taskJson: Uint8Array, signal?: AbortSignal) => Promise<TaskAnswer>
  /** The current path, channel, counters (the `GET /iicp/connect/status` document). */
  status: () => ConnectStatus
  /** Closes the channel and the relay pool; waits for the upgrade loop to end. Idempotent. */
  close: () => Promise<void>
}

function relayError (status: number, code: string, message: string): HttpAnswer {
  return { status, body: Buffer.from(JSON.stringify({ error: { code, message } }), 'utf8') }
}

/** The STUN servers of a list, plus a STUN entry for each UDP TURN server (TURN servers answer STUN on their port). */
function stunServersOf (iceServers: readonly IceServer[]): IceServer[] {
  const urls = new Set<string>()
  for (const s of iceServers) {
    const m = /^(stun|turn):([^?]+)(\?transport=udp)?$/i.exec(s.urls)
    if (m !== null) urls.add(`stun:${m[2] ?? ''}`)
  }
  return [...urls].map(u => ({ urls: u }))
}

class Client extends EventEmitter<ConnectClientEvents> implements ConnectClient {
  readonly #relay: RelayPath
  readonly #backend: IceBackend
  readonly #o: Required<Pick<ConnectClientOptions, 'retryMinMs' | 'retryMaxMs' | 'taskTimeoutMs'>> & ConnectClientOptions
  readonly #log: Logger
  readonly #stats: ConnectStats
  readonly #closing = new AbortController()
  #channel: DirectChannel | undefined
  #loop: Promise<void> | undefined
  /** Ends the wait on an open channel (set while one is open). */
  #wakeDown: ((reason: string) => void) | undefined
  #closed: Promise<void> | undefined
  /** performance.now() of the worker's last answer on any path (-Infinity: never). */
  #reachedAt = Number.NEGATIVE_INFINITY

  constructor (o: ConnectClientOptions) {
    super()
    const relayUrl = new URL(o.relayUrl)
    if (relayUrl.protocol !== 'http:' && relayUrl.protocol !== 'https:') throw new ToolkitError(ErrorCode.InvalidConfig, `relay URL must be http(s), got "${relayUrl.href}"`)
    if (o.workerId === '' || /[/%?#\s]/.test(o.workerId)) throw new ToolkitError(ErrorCode.InvalidConfig, `bad worker id "${o.workerId}"`)
    this.#o = { retryMinMs: 2_000, retryMaxMs: 60_000, taskTimeoutMs: FORWARD_TIMEOUT_MS, ...o }
    this.#relay = createRelayPath(relayUrl, o.workerId, o.maxSockets ?? 64)
    this.#backend = o.backend ?? nodeDataChannelBackend
    this.#log = (o.logger ?? silentLogger()).child({ component: 'iicp-connect', workerId: o.workerId })
    this.#stats = createConnectStats(o.workerId, relayUrl.href, this.#backend.name, o.direct !== false)
  }

  async send (taskJson: Uint8Array, signal: AbortSignal = this.#closing.signal): Promise<TaskAnswer> {
    this.#stats.noteFirstTask()
    if (this.#o.direct !== false && this.#loop === undefined && !this.#closing.signal.aborted) this.#loop = this.#upgradeLoop()
    const channel = this.#channel
    // Scanned, not parsed (a task of up to 16 MiB): not one object or a connect task goes to the relay.
    const taskId = channel === undefined ? undefined : directTaskId(taskJson)
    if (channel !== undefined && taskId !== undefined) return await this.#sendDirect(channel, taskJson, taskId, signal)
    return await this.#sendRelay(taskJson, signal)
  }

  /** Sends a task through the relay, waiting out a worker's re-bind (`#postWaitingRebind`). */
  async #sendRelay (taskJson: Uint8Array, signal: AbortSignal, idempotent = false): Promise<TaskAnswer> {
    const answer = await this.#postWaitingRebind(taskJson, signal, idempotent)
    this.#stats.task('relay', taskJson.length, answer.body.length)
    return { ...answer, path: 'relay' }
  }

  /**
   * Posts through the relay. A worker that answered recently and is not bound now is re-binding
   * (its NAT dropped the relay session, its relay restarted): the task or connect offer waits for
   * it, up to {@link REBIND_WAIT_MS}, instead of failing with 404 at once. An `idempotent` task (a
   * ledger retry) also waits out a 502 from a session that died around its CALL.
   */
  async #postWaitingRebind (taskJson: Uint8Array, signal: AbortSignal, idempotent = false): Promise<HttpAnswer> {
    const waitUntil = performance.now() + REBIND_WAIT_MS
    let pause = REBIND_RETRY_MIN_MS
    let waited = false
    for (;;) {
      const answer = await this.#postRelay(taskJson, signal)
      if (!isRebindAnswer(answer, idempotent) || performance.now() - this.#reachedAt > RECENTLY_REACHED_MS || performance.now() + pause > waitUntil) return answer
      if (!waited) this.#stats.rebindWaits++
      waited = true
      await sleep(pause, signal)
      pause = Math.min(pause * 2, REBIND_RETRY_MAX_MS)
    }
  }

  async #postRelay (taskJson: Uint8Array, signal: AbortSignal): Promise<HttpAnswer> {
    try {
      const answer = await this.#relay.post(taskJson, signal)
      // 200 and 500 come from the worker; anything else is the relay's own answer.
      if (answer.status === 200 || answer.status === 500) this.#reachedAt = performance.now()
      return answer
    } catch (err) {
      if (signal.aborted) throw err
      return relayError(502, IicpCode.ForwardFailed, `relay unreachable: ${errorMessage(err)}`)
    }
  }

  async #sendDirect (channel: DirectChannel, taskJson: Uint8Array, taskId: string, signal: AbortSignal): Promise<TaskAnswer> {
    try {
      const raw = await channel.call(taskJson, signal, this.#o.taskTimeoutMs)
      const answer = answerFromWorkerResult(taskId, raw)
      this.#reachedAt = performance.now()
      this.#stats.task(channel.kind, taskJson.length, answer.body.length)
      return { ...answer, path: channel.kind }
    } catch (err) {
      if (signal.aborted) throw err
      if (isToolkitError(err, ErrorCode.SessionBusy)) return await this.#sendRelay(taskJson, signal)
      const callId = isToolkitError(err, ErrorCode.DirectPath) ? err.details?.callId : undefined
      if (typeof callId === 'string') {
        // The CALL may have reached the worker: the retry names it, so it runs at most once.
        let task: unknown
        try {
          task = parseJsonBytes(Buffer.from(taskJson.buffer, taskJson.byteOffset, taskJson.byteLength))
        } catch {
          // Not JSON after all (a raw control character the scan does not look for): the worker could not run it.
          return await this.#sendRelay(taskJson, signal)
        }
        this.#stats.retried++
        const retry = { task_id: taskId, intent: CONNECT_INTENT, payload: encodeConnectRetry({ peerId: channel.peerId, callId, task }) }
        return await this.#sendRelay(Buffer.from(JSON.stringify(retry), 'utf8'), signal, true)
      }
      if (isToolkitError(err, ErrorCode.DirectPath)) return await this.#sendRelay(taskJson, signal)
      // The direct deadline passed: answered like the relay's forward timeout.
      const answer = relayError(502, IicpCode.ForwardFailed, `direct path forward failed: ${errorMessage(err)}`)
      return { ...answer, path: channel.kind }
    }
  }

  /** Offers, serves the channel until it dies, waits, offers again; ends when the client closes. */
  async #upgradeLoop (): Promise<void> {
    const stop = this.#closing.signal
    let wait = 0
    while (!stop.aborted) {
      if (wait > 0) {
        this.#stats.nextAttemptAt = Date.now() + wait
        try { await sleep(wait, stop) } catch { break }
      }
      this.#stats.upgrades.attempts++
      let lost!: (reason: string) => void
      const down = new Promise<string>(resolve => { lost = resolve })
      try {
        const iceServers = await this.#relay.iceServers(AbortSignal.any([stop, AbortSignal.timeout(5_000)]))
        const channel = await this.#open(iceServers, lost)
        if (stop.aborted) { channel.close(); break }
        this.#channel = channel
        this.#stats.opened(channel)
        this.#log.info({ path: channel.kind, pair: channel.pair }, 'direct path open')
        this.emit('path', channel.kind)
        this.#wakeDown = lost
        const reason = await down
        this.#wakeDown = undefined
        this.#channel = undefined
        channel.close()
        this.#stats.lost(reason)
        if (stop.aborted) break
        this.#log.warn({ reason }, 'direct path lost; tasks go through the relay')
        this.emit('path', 'relay')
        wait = this.#o.retryMinMs
      } catch (err) {
        if (stop.aborted) break
        this.#stats.upgrades.failed++
        this.#stats.lastError = errorMessage(err)
        this.#log.info({ err: errorMessage(err) }, 'direct path upgrade failed; staying on the relay')
        wait = this.#o.retryMaxMs
      }
    }
    this.#stats.nextAttemptAt = undefined
  }

  /**
   * Direct before TURN: ICE nominates the first pair that answers, and a TURN pair answers before
   * the NATs' holes are punched, so with TURN servers a first attempt offers STUN only (short
   * deadline) and only a failed one is followed by an attempt with TURN.
   */
  async #open (iceServers: IceServer[], lost: (reason: string) => void): Promise<DirectChannel> {
    const attempt = async (servers: IceServer[], connectDeadlineMs: number): Promise<DirectChannel> => await openDirectChannel({
      backend: this.#backend,
      iceServers: servers,
      signalTask: async (t, s) => await this.#signal(t, s),
      signal: this.#closing.signal,
      onDown: reason => { lost(reason) },
      connectDeadlineMs,
      ...(this.#o.relayOnly === true ? { relayOnly: true } : {}),
      ...(this.#o.bindAddress === undefined ? {} : { bindAddress: this.#o.bindAddress })
    })
    const stunOnly = stunServersOf(iceServers)
    if (this.#o.relayOnly === true || !iceServers.some(s => /^turns?:/i.test(s.urls))) return await attempt(iceServers, CONNECT_DEADLINE_MS)
    try {
      return await attempt(stunOnly, DIRECT_FIRST_DEADLINE_MS)
    } catch (err) {
      if (this.#closing.signal.aborted) throw err
      this.#log.info({ err: errorMessage(err) }, 'no direct pair; trying TURN')
      return await attempt(iceServers, CONNECT_DEADLINE_MS)
    }
  }

  /**
   * Sends a connect task through the relay; resolves with the answer's JSON when it is 200. Like a
   * task, it waits out a worker's re-bind: the upgrade that follows a lost channel often meets the
   * worker re-binding (the NAT flush that cut the channel cut its relay session too), and a 404
   * there is no refused offer.
   */
  async #signal (task: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const answer = await this.#postWaitingRebind(Buffer.from(JSON.stringify(task), 'utf8'), signal)
    if (answer.status !== 200) {
      throw new ToolkitError(ErrorCode.DirectPath, `worker refused the connect offer (HTTP ${answer.status}): ${answer.body.toString('utf8').slice(0, 200)}`)
    }
    return JSON.parse(answer.body.toString('utf8'))
  }

  status (): ConnectStatus {
    return this.#stats.snapshot(this.#channel)
  }

  async close (): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(new ToolkitError(ErrorCode.Aborted, 'connect client closed'))
      this.#wakeDown?.('closing')
      await this.#loop
      this.#channel?.close()
      this.#relay.close()
      this.#backend.release()
    })()
    await this.#closed
  }
}

/**
 * Creates a consumer client. Throws ERR_INVALID_CONFIG for a bad relay URL or worker id.
 *
 * @example
 * ```ts
 * const client = createConnectClient({ relayUrl: 'http://relay.example:9484', workerId: 'my-gpu-box' })
 * const answer = await client.send(Buffer.from(JSON.stringify({ task_id: 't1', intent: 'urn:x', payload: {} })))
 * console.log(answer.status, answer.path, JSON.parse(answer.body.toString()))
 * await client.close()
 * ```
 */
export function createConnectClient (options: ConnectClientOptions): ConnectClient {
  return new Client(options)
}
