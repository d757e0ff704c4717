/**
 * The IICP directory calls a node makes (directory-contract.md): register, heartbeat,
 * deregister, discover, and the public key. One bounded request each, with a deadline and a
 * signal. A refusal is a ToolkitError ERR_DIRECTORY whose `details` carry the HTTP status and,
 * for a 422, the protocol code (`IICP-E035`, `IICP-E036`, …) the directory put at the start of
 * a field message (§1.1). Used by the worker's reachability node and the relay's self-registration.
 */
import { createHmac } from 'node:crypto'
import { deadline } from '../abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../errors.ts'
import { httpRequest } from '../http/request.ts'

/** Where and how to call the directory. */
export interface DirectoryTarget {
  /** Base URL as the upstream SDKs take it (e.g. `https://directory.example/api`); `/v1/…` is appended. */
  url: string
  /** Deadline of one call. */
  timeoutMs: number
}

/** What a successful register returned (§3.4). */
export interface Registration {
  nodeId: string
  /** The new opaque token; every register replaces the previous one (§2). */
  nodeToken: string
  /** Key for heartbeat challenges (§4.3). */
  hmacKey: string | undefined
}

/** Details of an ERR_DIRECTORY refusal. */
export interface DirectoryRefusalDetails {
  status: number
  /** `validation_error`, `unauthorized`, … */
  code: string | undefined
  /** `IICP-E035` etc. when a 422 field message starts with one. */
  iicpCode: string | undefined
  /** The first field message of a 422. */
  fieldMessage: string | undefined
}

/** The refusal details of an ERR_DIRECTORY error, when it was an HTTP answer. */
export function refusalOf (err: unknown): DirectoryRefusalDetails | undefined {
  if (!isToolkitError(err, ErrorCode.Directory)) return undefined
  const d = err.details
  return d !== undefined && typeof d.status === 'number' ? d as unknown as DirectoryRefusalDetails : undefined
}

function joinUrl (base: string, path: string): URL {
  return new URL(`${base.replace(/\/+$/, '')}${path}`)
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

async function call (target: DirectoryTarget, what: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const dl = deadline(target.timeoutMs, signal, ErrorCode.Directory, `directory ${what} timed out after ${target.timeoutMs} ms`)
  let status: number
  let text: string
  try {
    const res = await httpRequest({
      url: joinUrl(target.url, path),
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      maxBodyBytes: 1024 * 1024,
      signal: dl.signal,
      errorCode: ErrorCode.Directory
    })
    status = res.status
    text = res.body.toString('utf8')
  } catch (err) {
    if (signal?.aborted === true) throw err
    const reason = dl.signal.aborted ? errorMessage(dl.signal.reason) : errorMessage(err)
    throw new ToolkitError(ErrorCode.Directory, `directory ${what} failed: ${reason}`, { cause: err })
  } finally {
    dl.clear()
  }
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  const obj = isObject(json) ? json : {}
  if (status >= 200 && status < 300) return obj
  const error = obj.error
  const code = isObject(error) ? (typeof error.code === 'string' ? error.code : undefined) : typeof error === 'string' ? error : undefined
  const fields = isObject(error) && isObject(error.fields) ? error.fields : {}
  const fieldMessage = Object.values(fields).flatMap((v): unknown[] => Array.isArray(v) ? v : []).find((m): m is string => typeof m === 'string')
  const iicpCode = fieldMessage?.match(/^(IICP-E\d{3})/)?.[1]
  const message = fieldMessage ?? (isObject(error) && typeof error.message === 'string' ? error.message : '')
  const details: DirectoryRefusalDetails = { status, code, iicpCode, fieldMessage }
  throw new ToolkitError(ErrorCode.Directory, `directory ${what} answered HTTP ${status}${code === undefined ? '' : ` ${code}`}${message === '' ? '' : `: ${message}`}`, { details: { ...details } })
}

/** `POST /v1/register` (§3). Resolves with the id and the new token. */
export async function registerNode (target: DirectoryTarget, payload: Record<string, unknown>, signal?: AbortSignal): Promise<Registration> {
  const body = await call(target, 'register', 'POST', '/v1/register', payload, {}, signal)
  const nodeId = typeof body.node_id === 'string' ? body.node_id : payload.node_id
  const token = body.node_token
  if (typeof nodeId !== 'string' || typeof token !== 'string' || token === '') {
    throw new ToolkitError(ErrorCode.Directory, 'directory register answered without node_id and node_token')
  }
  return { nodeId, nodeToken: token, hmacKey: typeof body.node_hmac_key === 'string' ? body.node_hmac_key : undefined }
}

/** Fields of one heartbeat (§4.1). */
export interface HeartbeatFields {
  load: number
  /** Running jobs; left out when undefined (the directory keeps the stored value). */
  activeJobs?: number | undefined
  /** The previous answer's challenge, answered with the registration's HMAC key (§4.3). */
  challenge?: string | undefined
  hmacKey?: string | undefined
}

function auth (reg: Registration): Record<string, string> {
  return { authorization: `Bearer ${reg.nodeToken}`, 'x-node-id': reg.nodeId }
}

/** `POST /v1/heartbeat`. Resolves with the next challenge. A 401 means the token is gone: register again. */
export async function sendHeartbeat (target: DirectoryTarget, reg: Registration, fields: HeartbeatFields, signal?: AbortSignal): Promise<string | undefined> {
  const body: Record<string, unknown> = { node_id: reg.nodeId, load: Math.min(1, Math.max(0, fields.load)) }
  if (fields.activeJobs !== undefined) body.active_jobs = fields.activeJobs
  if (fields.challenge !== undefined && fields.hmacKey !== undefined) {
    body.challenge_response = createHmac('sha256', Buffer.from(fields.hmacKey, 'utf8')).update(fields.challenge).digest('hex')
  }
  const answer = await call(target, 'heartbeat', 'POST', '/v1/heartbeat', body, auth(reg), signal)
  return typeof answer.challenge === 'string' ? answer.challenge : undefined
}

/** `DELETE /v1/register` (§9): removes the node row. */
export async function deregisterNode (target: DirectoryTarget, reg: Registration, signal?: AbortSignal): Promise<void> {
  await call(target, 'deregister', 'DELETE', '/v1/register', { node_id: reg.nodeId }, auth(reg), signal)
}

/** One node of a discover answer (the fields relay election reads). */
export interface DiscoveredNode {
  nodeId: string
  endpoint: string
  load: number
  relayCapable: boolean
  transportMetadata: Record<string, unknown> | undefined
}

/** `GET /v1/discover?intent=…[&relay_capable=true]` (§6). */
export async function discoverNodes (target: DirectoryTarget, intent: string, relayCapable: boolean, signal?: AbortSignal): Promise<DiscoveredNode[]> {
  const q = new URLSearchParams({ intent })
  if (relayCapable) q.set('relay_capable', 'true')
  const body = await call(target, 'discover', 'GET', `/v1/discover?${q.toString()}`, undefined, {}, signal)
  const nodes = Array.isArray(body.nodes) ? body.nodes : []
  return nodes.filter(isObject).map(n => ({
    nodeId: typeof n.node_id === 'string' ? n.node_id : '',
    endpoint: typeof n.endpoint === 'string' ? n.endpoint : '',
    load: typeof n.load === 'number' ? n.load : 0,
    relayCapable: n.relay_capable === true,
    transportMetadata: isObject(n.transport_metadata) ? n.transport_metadata : undefined
  }))
}

/** `GET /v1/directory-key` (§8.3): the Ed25519 public key as 64 hex characters. */
export async function fetchDirectoryKey (target: DirectoryTarget, signal?: AbortSignal): Promise<string> {
  const body = await call(target, 'key fetch', 'GET', '/v1/directory-key', undefined, {}, signal)
  const key = body.public_key
  if (typeof key !== 'string' || !/^[0-9a-f]{64}$/i.test(key)) throw new ToolkitError(ErrorCode.Directory, 'directory key answer lacks a 64-hex "public_key"')
  return key.toLowerCase()
}
