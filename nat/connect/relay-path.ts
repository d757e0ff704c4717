/**
 * The consumer's relayed path to one worker: `POST {relay}/v1/relay-for/{wid}/v1/task` on a
 * keep-alive pool, and `GET {relay}/v1/ice-servers` for the ICE server list (STUN and TURN with
 * short-lived credentials) the relay hands out for direct-path upgrades.
 */
import { Agent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { ErrorCode, IicpCode, ToolkitError } from '../../src/errors.ts'
import { httpRequest } from '../../src/http/request.ts'
import { MAX_REQUEST_BODY_BYTES } from '../../src/limits.ts'
import { parseIceServers } from '../../src/protocol/connect-intent.ts'
import type { IceServer } from '../../src/transport/ice/types.ts'

/** A complete HTTP answer, passed to the caller as is. */
export interface HttpAnswer {
  status: number
  /** JSON body bytes. */
  body: Buffer
  /** `retry-after`, when the relay sent one. */
  retryAfter?: string
}

/** The `error.code` of a relay's own error answer (404 or 502), or undefined. */
function relayErrorCode (answer: HttpAnswer): unknown {
  if (answer.status !== 404 && answer.status !== 502) return undefined
  try {
    return (JSON.parse(answer.body.toString('utf8')) as { error?: { code?: unknown } } | null)?.error?.code
  } catch {
    return undefined
  }
}

/**
 * True when the worker may be re-binding and the task can be sent again: the relay's 404
 * `IICP-E030` (the task never reached the worker), and for a ledger retry (which the worker runs
 * at most once) also 502 `IICP-E031` (the session died around the CALL, or the relay was out of
 * reach: the CALL may have reached the worker, and the ledger makes a second send harmless).
 */
export function isRebindAnswer (answer: HttpAnswer, idempotent: boolean): boolean {
  const code = relayErrorCode(answer)
  return (answer.status === 404 && code === IicpCode.NoSession) ||
    (idempotent && answer.status === 502 && code === IicpCode.ForwardFailed)
}

/** The relayed path. */
export interface RelayPath {
  /** Posts one task body; any HTTP status resolves. Rejects on transport failure or abort. */
  post: (taskJson: Uint8Array, signal: AbortSignal) => Promise<HttpAnswer>
  /** The relay's ICE servers; an empty list when the relay has none or does not serve the endpoint. */
  iceServers: (signal: AbortSignal) => Promise<IceServer[]>
  /** Closes pooled connections. */
  close: () => void
}

/** Creates the relayed path to `workerId` through the relay at `relayUrl` (http or https). */
export function createRelayPath (relayUrl: URL, workerId: string, maxSockets: number): RelayPath {
  const base = relayUrl.href.replace(/\/+$/, '')
  const taskUrl = new URL(`${base}/v1/relay-for/${encodeURIComponent(workerId)}/v1/task`)
  const iceUrl = new URL(`${base}/v1/ice-servers?worker=${encodeURIComponent(workerId)}`)
  const agent = relayUrl.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets }) : new Agent({ keepAlive: true, maxSockets })
  return {
    post: async (taskJson, signal) => {
      const res = await httpRequest({
        url: taskUrl,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(taskJson.buffer, taskJson.byteOffset, taskJson.byteLength),
        maxBodyBytes: MAX_REQUEST_BODY_BYTES * 2,
        signal,
        agent,
        errorCode: ErrorCode.ConnectionClosed
      })
      const retryAfter = res.headers['retry-after']
      return typeof retryAfter === 'string' ? { status: res.status, body: res.body, retryAfter } : { status: res.status, body: res.body }
    },
    iceServers: async signal => {
      const res = await httpRequest({ url: iceUrl, signal, agent, errorCode: ErrorCode.ConnectionClosed })
      if (res.status === 404) return []
      if (res.status !== 200) throw new ToolkitError(ErrorCode.DirectPath, `relay answered HTTP ${res.status} for its ICE servers`)
      let body: unknown
      try {
        body = JSON.parse(res.body.toString('utf8'))
      } catch (err) {
        throw new ToolkitError(ErrorCode.DirectPath, 'relay ICE server list is not JSON', { cause: err })
      }
      return parseIceServers((body as { ice_servers?: unknown } | null)?.ice_servers ?? [])
    },
    close: () => { agent.destroy() }
  }
}
