/**
 * The reserved intent `urn:iicp:intent:transport:connect:v1`: an ICE offer sent as an ordinary
 * IICP task through the relay (`POST /v1/relay-for/{wid}/v1/task`), answered by the worker's ICE
 * answer as the task result. A worker that does not know the intent answers with an error (or
 * anything that does not parse as an answer) and the consumer stays on the relay.
 *
 * Task:   `{"task_id", "intent": CONNECT_INTENT, "payload": {"v":1, "peer_id", "sdp", "candidates":[…], "ice_servers":[…]}}`
 * Result: `{"result": {"v":1, "peer_id", "sdp", "candidates":[…]}}`
 *
 * Trickle: an offer may leave its candidates out; the consumer then sends them once it has applied
 * the answer, as `{"intent": CONNECT_INTENT, "payload": {"v":1, "op":"candidates", "peer_id",
 * "candidates":[…]}}` (result `{"result": {"v":1, "peer_id"}}`). The worker's connectivity checks
 * therefore start only when the consumer knows the worker's fingerprint: a check that arrives
 * earlier can make the consumer start DTLS without it, and the handshake fails. This consumer
 * applies the answer's candidates only once that trickle task is answered, so the worker checks
 * first: behind two filtering NATs the side whose check gets through first (the second to send)
 * reaches ICE "connected" first, and the DTLS client (the worker: the answer says
 * `a=setup:active`) must not be first, or libdatachannel drops its ClientHello and resends it
 * only after 1 s. The worker ignores trickled candidates of an address family it has no
 * candidate in (each unusable pair would delay its useful checks by libjuice's 50 ms pacing).
 *
 * When a direct channel dies with tasks unanswered, the consumer re-sends each through the relay
 * as `{"intent": CONNECT_INTENT, "payload": {"v":1, "op":"retry", "peer_id", "call_id", "task"}}`;
 * the worker answers with the task's own result and runs it at most once per (peer, call id).
 */
import { ErrorCode, ToolkitError } from '../errors.ts'
import type { IceServer } from '../transport/ice/types.ts'

/** The reserved intent URN of a connect offer. */
export const CONNECT_INTENT = 'urn:iicp:intent:transport:connect:v1'
/** The payload version this toolkit speaks. */
export const CONNECT_VERSION = 1

/** Bounds of a connect payload (a worker refuses anything larger). */
export const CONNECT_LIMITS = {
  sdpChars: 16 * 1024,
  candidates: 64,
  candidateChars: 512,
  iceServers: 8,
  iceServerFieldChars: 512,
  peerIdChars: 64
} as const

/** A consumer's offer (the task payload). */
export interface ConnectOffer {
  /** Random id the consumer picks for this attempt (16–64 characters of `[A-Za-z0-9_-]`). */
  peerId: string
  /** The offer SDP (carries the consumer's DTLS fingerprint). */
  sdp: string
  /** Candidate lines gathered before the consumer's gathering deadline. */
  candidates: string[]
  /** The ICE servers both sides use (from the relay; TURN credentials are short-lived). */
  iceServers: IceServer[]
}

/** The worker's answer (the task result). */
export interface ConnectAnswer {
  /** The offer's `peerId`, echoed. */
  peerId: string
  /** The answer SDP (carries the worker's DTLS fingerprint). */
  sdp: string
  /** Candidate lines gathered before the worker's gathering deadline. */
  candidates: string[]
}

const PEER_ID = /^[A-Za-z0-9_-]{16,64}$/

function bad (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.BadRequest, `connect payload: ${message}`)
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function text (obj: Record<string, unknown>, key: string, max: number): string {
  const v = obj[key]
  if (typeof v !== 'string' || v === '' || v.length > max) throw bad(`"${key}" must be a non-empty string of at most ${max} characters`)
  return v
}

function candidateList (obj: Record<string, unknown>): string[] {
  const v = obj.candidates ?? []
  if (!Array.isArray(v) || v.length > CONNECT_LIMITS.candidates) throw bad(`"candidates" must be an array of at most ${CONNECT_LIMITS.candidates}`)
  return v.map(c => {
    if (typeof c !== 'string' || c.length > CONNECT_LIMITS.candidateChars || !/^(a=)?candidate:/.test(c)) throw bad('a candidate is not a "candidate:" line')
    return c
  })
}

function common (value: unknown): { obj: Record<string, unknown>, peerId: string, sdp: string, candidates: string[] } {
  if (!isObject(value)) throw bad('must be a JSON object')
  if (value.v !== CONNECT_VERSION) throw bad(`unsupported version ${JSON.stringify(value.v)}`)
  const peerId = text(value, 'peer_id', CONNECT_LIMITS.peerIdChars)
  if (!PEER_ID.test(peerId)) throw bad('"peer_id" must be 16-64 characters of [A-Za-z0-9_-]')
  return { obj: value, peerId, sdp: text(value, 'sdp', CONNECT_LIMITS.sdpChars), candidates: candidateList(value) }
}

/** Parses the ICE server list (also the relay's `ice_servers` answer). Throws ERR_BAD_REQUEST. */
export function parseIceServers (value: unknown): IceServer[] {
  if (!Array.isArray(value) || value.length > CONNECT_LIMITS.iceServers) throw bad(`"ice_servers" must be an array of at most ${CONNECT_LIMITS.iceServers}`)
  const max = CONNECT_LIMITS.iceServerFieldChars
  return value.map(s => {
    if (!isObject(s)) throw bad('an ICE server must be an object')
    const urls = text(s, 'urls', max)
    if (!/^(stun|turn|turns):/i.test(urls)) throw bad('an ICE server URL must start with stun:, turn: or turns:')
    const server: IceServer = { urls }
    if (s.username !== undefined) server.username = text(s, 'username', max)
    if (s.credential !== undefined) server.credential = text(s, 'credential', max)
    return server
  })
}

/** The task payload of an offer. */
export function encodeConnectOffer (offer: ConnectOffer): Record<string, unknown> {
  return { v: CONNECT_VERSION, peer_id: offer.peerId, sdp: offer.sdp, candidates: offer.candidates, ice_servers: offer.iceServers }
}

/** Parses a task payload as an offer. Throws ERR_BAD_REQUEST. */
export function parseConnectOffer (payload: unknown): ConnectOffer {
  const { obj, peerId, sdp, candidates } = common(payload)
  if (obj.op !== undefined && obj.op !== 'offer') throw bad(`unknown op ${JSON.stringify(obj.op)}`)
  return { peerId, sdp, candidates, iceServers: parseIceServers(obj.ice_servers ?? []) }
}

/** The task result of an answer (`{"result": …}`). */
export function encodeConnectAnswer (answer: ConnectAnswer): Record<string, unknown> {
  return { result: { v: CONNECT_VERSION, peer_id: answer.peerId, sdp: answer.sdp, candidates: answer.candidates } }
}

/**
 * Parses a task's answer (the relay's HTTP answer or the worker's result object: both hold
 * `result`) for the offer `peerId`. Throws ERR_BAD_REQUEST when it is no answer to that offer.
 */
export function parseConnectAnswer (answer: unknown, peerId: string): ConnectAnswer {
  if (!isObject(answer)) throw bad('answer must be a JSON object')
  const parsed = common(answer.result)
  if (parsed.peerId !== peerId) throw bad('answer is for another peer_id')
  return { peerId: parsed.peerId, sdp: parsed.sdp, candidates: parsed.candidates }
}

/** Candidates trickled after the answer. */
export interface ConnectCandidates {
  peerId: string
  candidates: string[]
}

/** The task payload of a trickle follow-up. */
export function encodeConnectCandidates (c: ConnectCandidates): Record<string, unknown> {
  return { v: CONNECT_VERSION, op: 'candidates', peer_id: c.peerId, candidates: c.candidates }
}

/** Parses a trickle payload; undefined when the payload is not one. Throws ERR_BAD_REQUEST for a bad one. */
export function parseConnectCandidates (payload: unknown): ConnectCandidates | undefined {
  if (!isObject(payload) || payload.op !== 'candidates') return undefined
  if (payload.v !== CONNECT_VERSION) throw bad(`unsupported version ${JSON.stringify(payload.v)}`)
  return { peerId: text(payload, 'peer_id', CONNECT_LIMITS.peerIdChars), candidates: candidateList(payload) }
}

/** A relayed retry of a task first sent on a direct channel. */
export interface ConnectRetry {
  peerId: string
  /** The call id the task had on the channel. */
  callId: string
  /** The original task object. */
  task: unknown
}

/** The task payload of a retry. */
export function encodeConnectRetry (retry: ConnectRetry): Record<string, unknown> {
  return { v: CONNECT_VERSION, op: 'retry', peer_id: retry.peerId, call_id: retry.callId, task: retry.task }
}

/** Parses a retry payload; undefined when the payload is not a retry (an offer). Throws ERR_BAD_REQUEST for a bad retry. */
export function parseConnectRetry (payload: unknown): ConnectRetry | undefined {
  if (!isObject(payload) || payload.op !== 'retry') return undefined
  if (payload.v !== CONNECT_VERSION) throw bad(`unsupported version ${JSON.stringify(payload.v)}`)
  const peerId = text(payload, 'peer_id', CONNECT_LIMITS.peerIdChars)
  const callId = text(payload, 'call_id', CONNECT_LIMITS.peerIdChars)
  if (!Object.hasOwn(payload, 'task')) throw bad('retry without "task"')
  return { peerId, callId, task: payload.task }
}

/** The IP family of a candidate line's address (`candidate:1 1 UDP 2114977791 192.0.2.7 50000 typ host`); undefined for a hostname or a line that does not parse. */
export function candidateFamily (candidate: string): 4 | 6 | undefined {
  const address = candidate.replace(/^a=/, '').split(/\s+/)[4] ?? ''
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return 4
  return address.includes(':') ? 6 : undefined
}

/**
 * The remote candidates a side with `localCandidates` can use: those of an address family it has a
 * candidate in (or of unknown family). Pairs it cannot use would still take a paced check slot each
 * (50 ms in libjuice), delaying its useful checks.
 */
export function usableCandidates (remote: readonly string[], localCandidates: readonly string[]): string[] {
  const families = new Set(localCandidates.map(candidateFamily))
  if (families.size === 0) return [...remote]
  return remote.filter(c => {
    const family = candidateFamily(c)
    return family === undefined || families.has(family)
  })
}

/** True when a task object carries the connect intent. */
export function isConnectTask (task: unknown): task is { intent: string, payload?: unknown } {
  return isObject(task) && task.intent === CONNECT_INTENT
}
