/**
 * Re-registration with the directory after a bind (spec §5.3, checklist 40), as the Rust node
 * does it since 0.7.79: the register payload with the relay route set over it and the current
 * node token as `current_node_token` (the IICP-E050 ownership proof), POSTed to `/v1/register`.
 * Beyond upstream (spec §6.1 item 6, §6.2 item 10): `relay_endpoint` is set and
 * `transport_endpoint` is dropped, so clients never prefer an unreachable native endpoint.
 */
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { joinUrl, postJson } from './http-json.ts'
import type { BindInfo } from './options.ts'

/** Builds the register payload for a bind: `payload` with the relay fields set over it. */
export function buildRegistrationPayload (payload: Record<string, unknown> | undefined, bind: BindInfo, currentNodeToken: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload }
  delete out.transport_endpoint
  out.node_id ??= bind.workerId
  out.endpoint = bind.endpoint
  out.transport_method = 'turn_relay'
  out.exposure_mode = 'relay_required'
  out.relay_endpoint = bind.endpoint
  out.transport_metadata = { relay_for: bind.workerId, relay_host: bind.relayHost, relay_port: bind.relayHttpPort }
  out.current_node_token = currentNodeToken
  return out
}

/** Options for {@link reRegister}. */
export interface ReRegisterOptions {
  /** Directory base URL. */
  directoryUrl: string
  /** The full register payload ({@link buildRegistrationPayload}). */
  payload: Record<string, unknown>
  /** Request deadline. */
  timeoutMs: number
  /** Cancels the request. */
  signal?: AbortSignal | undefined
}

/**
 * POSTs the payload to `{directoryUrl}/v1/register`. Resolves with the node token the directory
 * issued (`node_token`, or `token` as Rust also accepts), undefined if it sent none. Rejects with
 * ERR_DIRECTORY on a non-2xx answer (e.g. 403 IICP-E050), a timeout or a transport failure.
 */
export async function reRegister (o: ReRegisterOptions): Promise<string | undefined> {
  const reply = await postJson(joinUrl(o.directoryUrl, '/v1/register'), o.payload, {
    what: 'directory re-registration',
    errorCode: ErrorCode.Directory,
    timeoutMs: o.timeoutMs,
    signal: o.signal
  })
  const body = typeof reply.json === 'object' && reply.json !== null ? reply.json as Record<string, unknown> : {}
  if (reply.status < 200 || reply.status >= 300) {
    const err = typeof body.error === 'object' && body.error !== null ? body.error as Record<string, unknown> : {}
    const code = typeof err.code === 'string' ? ` ${err.code}` : ''
    const message = typeof err.message === 'string' ? `: ${err.message}` : ''
    throw new ToolkitError(ErrorCode.Directory, `directory re-registration answered HTTP ${reply.status}${code}${message}`, { details: { status: reply.status } })
  }
  const token = typeof body.node_token === 'string' ? body.node_token : body.token
  return typeof token === 'string' && token !== '' ? token : undefined
}
