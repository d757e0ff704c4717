/**
 * The client side of the upstream HTTP long-poll worker API (spec §4.2): bind, pull, result,
 * unbind. It uses only a `fetch`-shaped function and no Node modules, so the same code runs
 * in a browser tab (with `globalThis.fetch`) and in Node (with a fetch over node:https that
 * honours `--ca` and HTTPS_PROXY, worker/transports/poll-fetch.ts).
 */

/** The subset of `fetch` the client needs. */
export type PollFetch = (url: string, init: {
  method: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
  signal?: AbortSignal | undefined
}) => Promise<{ status: number, text: () => Promise<string> }>

/** What a bind asks for. */
export interface PollBindRequest {
  workerId: string
  intent?: string
  models?: string[]
  ticket?: string
}

/** A successful bind. */
export interface PollBinding {
  sessionToken: string
  /** The relay's pull hold in seconds. */
  pollTimeoutS: number
  /** `/v1/relay-for/{workerId}` on the relay. */
  workerEndpointPath: string
}

/** A pulled call: buffered, or a stream call with its ids. */
export interface PulledCall {
  callId: string
  task: unknown
  /** Set for stream calls. */
  stream?: { taskId: string, sessionId: string }
}

/** A refusal or failure answered by the relay (`{"error":{"code","message"}}`). */
export class PollError extends Error {
  /** HTTP status. */
  readonly status: number
  /** The IICP code from the body (e.g. `IICP-E021`), or '' without one. */
  readonly code: string
  /** `error.reason` from the body (e.g. `relay_bind_rate_limited`). */
  readonly reason: string | undefined

  constructor (status: number, code: string, message: string, reason?: string) {
    super(message)
    this.name = 'PollError'
    this.status = status
    this.code = code
    this.reason = reason
  }

  /** True when the session is gone (401): bind again. */
  get sessionEnded (): boolean {
    return this.status === 401 && this.code === 'IICP-E021'
  }
}

async function errorOf (res: { status: number, text: () => Promise<string> }): Promise<PollError> {
  const text = await res.text()
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown, message?: unknown, reason?: unknown } }).error
    if (e !== undefined) {
      return new PollError(res.status, typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : `HTTP ${res.status}`,
        typeof e.reason === 'string' ? e.reason : undefined)
    }
  } catch {
    // Not JSON: fall through to the status alone.
  }
  return new PollError(res.status, '', `HTTP ${res.status}`)
}

/** One relay's long-poll API. */
export class PollClient {
  readonly #base: string
  readonly #fetch: PollFetch
  #token: string | undefined

  /** `baseUrl` is the relay's HTTP(S) front, e.g. `https://relay.example.net`. */
  constructor (baseUrl: string, fetchFn: PollFetch = async (url, init) => await globalThis.fetch(url, { ...init, signal: init.signal ?? null })) {
    this.#base = baseUrl.replace(/\/+$/, '')
    this.#fetch = fetchFn
  }

  /** Binds; throws {@link PollError} for a refusal (409 alive, 429/503 limits, 401 ticket). */
  async bind (req: PollBindRequest, signal?: AbortSignal): Promise<PollBinding> {
    const body = JSON.stringify({ worker_id: req.workerId, intent: req.intent ?? '', models: req.models ?? [], ...(req.ticket === undefined ? {} : { bind_ticket: req.ticket }) })
    const res = await this.#fetch(`${this.#base}/v1/relay/bind`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal })
    if (res.status !== 200) throw await errorOf(res)
    const b = JSON.parse(await res.text()) as { session_token: string, poll_timeout_s: number, worker_endpoint_path: string }
    this.#token = b.session_token
    return { sessionToken: b.session_token, pollTimeoutS: b.poll_timeout_s, workerEndpointPath: b.worker_endpoint_path }
  }

  /** Waits for the next call; undefined when the hold passed (204). Throws {@link PollError} (401 = session ended). */
  async pull (signal?: AbortSignal): Promise<PulledCall | undefined> {
    const res = await this.#fetch(`${this.#base}/v1/relay/pull`, { method: 'GET', headers: this.#auth(), signal })
    if (res.status === 204) {
      await res.text()
      return undefined
    }
    if (res.status !== 200) throw await errorOf(res)
    const c = JSON.parse(await res.text()) as { call_id: string, task: unknown, stream?: boolean, task_id?: string, session_id?: string }
    return c.stream === true
      ? { callId: c.call_id, task: c.task, stream: { taskId: c.task_id ?? c.call_id, sessionId: c.session_id ?? c.call_id } }
      : { callId: c.call_id, task: c.task }
  }

  /** Posts a buffered result; `resultJson` is the JSON text of the result object. */
  async result (callId: string, resultJson: string, signal?: AbortSignal): Promise<void> {
    await this.#post('result', `{"call_id":${JSON.stringify(callId)},"result":${resultJson}}`, signal)
  }

  /** Posts a lifecycle event of a stream call (`event` in the upstream JSON shape). */
  async event (callId: string, event: object, signal?: AbortSignal): Promise<void> {
    await this.#post('result', JSON.stringify({ call_id: callId, event }), signal)
  }

  /** Ends the session (the relay removes it at once). */
  async unbind (signal?: AbortSignal): Promise<void> {
    await this.#post('unbind', '{}', signal)
    this.#token = undefined
  }

  #auth (): Record<string, string> {
    if (this.#token === undefined) throw new PollError(401, 'IICP-E021', 'not bound')
    return { authorization: `Bearer ${this.#token}` }
  }

  async #post (name: string, body: string, signal: AbortSignal | undefined): Promise<void> {
    const res = await this.#fetch(`${this.#base}/v1/relay/${name}`, { method: 'POST', headers: { ...this.#auth(), 'content-type': 'application/json' }, body, signal })
    if (res.status !== 204) throw await errorOf(res)
    await res.text()
  }
}
