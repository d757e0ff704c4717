/**
 * Relay-port messages (INIT, ACK, RELAY_BIND, RELAY_ACK, CALL, RESPONSE, PING, PONG, CLOSE)
 * as the upstream IICP SDKs put them on the wire (spec §2.5): encoders that emit canonical
 * CBOR, and strict parsers that accept any key order and ignore unknown keys.
 */
import { ErrorCode, ToolkitError } from '../errors.ts'
import { CONTROL_CBOR_LIMITS, SKIP_CBOR_LIMITS, decodePayloadMap, encodeCbor } from './cbor.ts'
import { peekMapText } from './cbor-scan.ts'
import { encodeBodyFrame, readBodyAndCallId } from './body-frame.ts'
import { encodeFrame, MsgType } from './frame.ts'
import {
  CallKey, HandshakeKey, LifecycleBlockKey, LifecycleErrorKey, LifecycleKey, PingKey, RelayAckKey, RelayBindKey
} from './keys.ts'

/** RELAY_BIND contents. */
export interface RelayBind {
  /** The worker id (non-empty). */
  workerId: string
  /** The worker's intent URN (may be empty). */
  intent: string
  /** Models the worker serves (reported in relay-for health). */
  models: string[]
  /** Bind ticket, if any. */
  ticket?: string
}

/** A parsed RELAY_ACK. */
export type RelayAck =
  | { ok: true, workerId: string, httpPort: number | undefined }
  | { ok: false, workerId: string, reason: string }

/** A parsed CALL. `body` holds the UTF-8 JSON of the task. */
export interface CallMessage {
  callId: string
  body: Buffer
  /** Present on stream CALLs (key 24). */
  taskId?: string
  /** Present on stream CALLs (key 2). */
  sessionId?: string
}

/** A service-lifecycle (streaming) RESPONSE event, routed by `callId` (key 3). */
export interface LifecycleEvent {
  sessionId: string
  callId: string
  status: string
  result?: unknown
  error?: { code: string, message: string }
  tokensUsed?: number
  isFinal: boolean
  lifecycle: { taskId: string, sequence: number, event: string, isFinal: boolean }
}

/** A parsed RESPONSE: buffered (key 15 + JSON body) or lifecycle (key 13 present). */
export type ResponseMessage =
  | { kind: 'buffered', callId: string, body: Buffer }
  | { kind: 'lifecycle', event: LifecycleEvent }

const EMPTY_BYTES = new Uint8Array(0)

function protocolError (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.Protocol, message)
}

function frameOf (type: number, map: Map<number, unknown>): Buffer {
  return encodeFrame(type, encodeCbor(map))
}

function textOf (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')
  return undefined
}

function bytesOf (value: unknown): Buffer | undefined {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  return undefined
}

/** `INIT {1:1}` (worker → relay, first frame). */
export function encodeInit (): Buffer {
  return frameOf(MsgType.Init, new Map([[HandshakeKey.Version, 1]]))
}

/** `ACK {1:1}` (relay → worker). */
export function encodeAck (): Buffer {
  return frameOf(MsgType.Ack, new Map([[HandshakeKey.Version, 1]]))
}

/** `RELAY_BIND {1:worker_id, 2:intent, 3:[models], 4?:ticket}`. */
export function encodeRelayBind (bind: RelayBind): Buffer {
  const map = new Map<number, unknown>([[RelayBindKey.WorkerId, bind.workerId], [RelayBindKey.Intent, bind.intent], [RelayBindKey.Models, bind.models]])
  if (bind.ticket !== undefined && bind.ticket !== '') map.set(RelayBindKey.Ticket, bind.ticket)
  return frameOf(MsgType.RelayBind, map)
}

/**
 * Parses a RELAY_BIND payload. A missing or empty worker id throws ERR_PROTOCOL (the relay
 * then closes silently). A bstr worker id is accepted as UTF-8, as the Rust relay does.
 */
export function parseRelayBind (payload: Uint8Array): RelayBind {
  const map = decodePayloadMap(payload, CONTROL_CBOR_LIMITS)
  const workerId = textOf(map.get(RelayBindKey.WorkerId))
  if (workerId === undefined || workerId === '') throw protocolError('RELAY_BIND without worker_id')
  const intent = textOf(map.get(RelayBindKey.Intent)) ?? ''
  const rawModels = map.get(RelayBindKey.Models)
  const models = Array.isArray(rawModels) ? rawModels.filter((m): m is string => typeof m === 'string') : []
  const ticket = textOf(map.get(RelayBindKey.Ticket))
  return ticket === undefined || ticket === '' ? { workerId, intent, models } : { workerId, intent, models, ticket }
}

/** `RELAY_ACK {1:"ok", 2:worker_id, 4:http_port}`. */
export function encodeRelayAckOk (workerId: string, httpPort: number): Buffer {
  return frameOf(MsgType.RelayAck, new Map<number, unknown>([[RelayAckKey.Status, 'ok'], [RelayAckKey.WorkerId, workerId], [RelayAckKey.HttpPort, httpPort]]))
}

/** `RELAY_ACK {1:"error", 2:worker_id, 3:reason}` (the relay closes after sending it). */
export function encodeRelayAckError (workerId: string, reason: string): Buffer {
  return frameOf(MsgType.RelayAck, new Map<number, unknown>([[RelayAckKey.Status, 'error'], [RelayAckKey.WorkerId, workerId], [RelayAckKey.Reason, reason]]))
}

/** Parses a RELAY_ACK. `httpPort` is undefined unless key 4 is an unsigned integer port. */
export function parseRelayAck (payload: Uint8Array): RelayAck {
  const map = decodePayloadMap(payload)
  const status = textOf(map.get(RelayAckKey.Status))
  const workerId = textOf(map.get(RelayAckKey.WorkerId)) ?? ''
  if (status === 'ok') {
    const port = map.get(RelayAckKey.HttpPort)
    const httpPort = typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined
    return { ok: true, workerId, httpPort }
  }
  return { ok: false, workerId, reason: textOf(map.get(RelayAckKey.Reason)) ?? (status ?? 'unknown') }
}

/** `CALL {15:call_id, 5:bstr(UTF-8 JSON of the task)}`. */
export function encodeCall (callId: string, taskJson: Uint8Array): Buffer {
  return encodeBodyFrame(MsgType.Call, callId, taskJson)
}

/** Stream CALL `{2:session_id, 15:call_id, 24:task_id, 5:bstr(JSON)}`. */
export function encodeStreamCall (callId: string, sessionId: string, taskId: string, taskJson: Uint8Array): Buffer {
  return frameOf(MsgType.Call, new Map<number, unknown>([[CallKey.SessionId, sessionId], [CallKey.Body, taskJson], [CallKey.CallId, callId], [CallKey.TaskId, taskId]]))
}

/** Parses a CALL. Key 5 may be bstr or tstr; a missing call id or body throws ERR_PROTOCOL. */
export function parseCall (payload: Uint8Array): CallMessage {
  const fast = readBodyAndCallId(payload)
  if (fast !== undefined && fast.callId !== '') return fast
  return withCallId(payload, () => parseCallMap(decodePayloadMap(payload)))
}

function parseCallMap (map: Map<unknown, unknown>): CallMessage {
  const callId = textOf(map.get(CallKey.CallId))
  if (callId === undefined || callId === '') throw protocolError('CALL without call_id')
  const body = bytesOf(map.get(CallKey.Body))
  if (body === undefined) throw protocolError('CALL without a task body')
  const taskId = textOf(map.get(CallKey.TaskId))
  const sessionId = textOf(map.get(CallKey.SessionId))
  return {
    callId,
    body,
    ...(taskId === undefined ? {} : { taskId }),
    ...(taskId === undefined || sessionId === undefined ? {} : { sessionId })
  }
}

/**
 * Best-effort call id (key 15) of a CALL or RESPONSE that failed to parse, so its waiter can
 * still be answered. It skips the other entries without decoding them (bounded like a decode).
 * The parsers already put it in their error's `details.callId`; this is for other callers.
 */
export function peekCallId (payload: Uint8Array): string | undefined {
  const id = peekMapText(payload, CallKey.CallId, SKIP_CBOR_LIMITS)
  return id === '' ? undefined : id
}

/**
 * Runs `parse`; a failure is rethrown as a ToolkitError whose `details.callId` holds the
 * payload's call id when one can be found, so the caller need not decode the payload again.
 */
function withCallId<T> (payload: Uint8Array, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    const callId = peekCallId(payload)
    if (callId === undefined || !(err instanceof ToolkitError)) throw err
    throw new ToolkitError(err.code, err.message, { cause: err.cause, details: { ...err.details, callId } })
  }
}

/** `RESPONSE {15:call_id, 5:bstr(UTF-8 JSON of the handler result)}`; a string is encoded as UTF-8 into the frame. */
export function encodeResponse (callId: string, resultJson: Uint8Array | string): Buffer {
  return encodeBodyFrame(MsgType.Response, callId, resultJson)
}

/** Encodes a lifecycle RESPONSE (spec §2.5), as streaming workers send it. */
export function encodeLifecycleResponse (e: LifecycleEvent): Buffer {
  const block = new Map<number, unknown>([
    [LifecycleBlockKey.TaskId, e.lifecycle.taskId], [LifecycleBlockKey.Sequence, e.lifecycle.sequence],
    [LifecycleBlockKey.Event, e.lifecycle.event], [LifecycleBlockKey.IsFinal, e.lifecycle.isFinal]
  ])
  const map = new Map<number, unknown>([
    [LifecycleKey.Version, 1], [LifecycleKey.SessionId, e.sessionId], [LifecycleKey.CallId, e.callId],
    [LifecycleKey.Status, e.status], [LifecycleKey.IsFinal, e.isFinal], [LifecycleKey.Lifecycle, block]
  ])
  if (e.result !== undefined) map.set(LifecycleKey.Result, e.result)
  if (e.error !== undefined) map.set(LifecycleKey.Error, new Map<number, unknown>([[LifecycleErrorKey.Code, e.error.code], [LifecycleErrorKey.Message, e.error.message]]))
  if (e.tokensUsed !== undefined) map.set(LifecycleKey.TokensUsed, e.tokensUsed)
  return frameOf(MsgType.Response, map)
}

function parseLifecycle (map: Map<unknown, unknown>, rawBlock: unknown): LifecycleEvent {
  if (!(rawBlock instanceof Map)) throw protocolError('lifecycle RESPONSE key 13 is not a map')
  const block = rawBlock as Map<unknown, unknown>
  const callId = textOf(map.get(LifecycleKey.CallId))
  const status = textOf(map.get(LifecycleKey.Status))
  const isFinal = map.get(LifecycleKey.IsFinal)
  const taskId = textOf(block.get(LifecycleBlockKey.TaskId))
  const sequence = block.get(LifecycleBlockKey.Sequence)
  const event = textOf(block.get(LifecycleBlockKey.Event))
  const lcFinal = block.get(LifecycleBlockKey.IsFinal)
  if (callId === undefined || status === undefined || typeof isFinal !== 'boolean' || taskId === undefined ||
    typeof sequence !== 'number' || event === undefined || typeof lcFinal !== 'boolean') {
    throw protocolError('malformed lifecycle RESPONSE')
  }
  const out: LifecycleEvent = {
    sessionId: textOf(map.get(LifecycleKey.SessionId)) ?? '',
    callId,
    status,
    isFinal,
    lifecycle: { taskId, sequence, event, isFinal: lcFinal }
  }
  if (map.has(LifecycleKey.Result)) out.result = map.get(LifecycleKey.Result)
  const err = map.get(LifecycleKey.Error)
  if (err instanceof Map) out.error = { code: textOf(err.get(LifecycleErrorKey.Code)) ?? '', message: textOf(err.get(LifecycleErrorKey.Message)) ?? '' }
  const tokens = map.get(LifecycleKey.TokensUsed)
  if (typeof tokens === 'number') out.tokensUsed = tokens
  return out
}

/** Parses a RESPONSE: lifecycle when key 13 is present, otherwise buffered (key 15 + key 5). */
export function parseResponse (payload: Uint8Array): ResponseMessage {
  const fast = readBodyAndCallId(payload)
  if (fast !== undefined && fast.callId !== '') return { kind: 'buffered', ...fast }
  return withCallId(payload, () => parseResponseMap(decodePayloadMap(payload)))
}

function parseResponseMap (map: Map<unknown, unknown>): ResponseMessage {
  if (map.has(LifecycleKey.Lifecycle)) return { kind: 'lifecycle', event: parseLifecycle(map, map.get(LifecycleKey.Lifecycle)) }
  const callId = textOf(map.get(CallKey.CallId))
  if (callId === undefined || callId === '') throw protocolError('RESPONSE without call_id')
  const body = bytesOf(map.get(CallKey.Body)) ?? Buffer.alloc(0)
  return { kind: 'buffered', callId, body }
}

/** `PING {1: echo}`; the worker keepalive is `PING {1:h''}`. */
export function encodePing (echo: Uint8Array = EMPTY_BYTES): Buffer {
  return frameOf(MsgType.Ping, new Map<number, unknown>([[PingKey.Echo, echo]]))
}

/** The echo bytes of a PING (key 1), or empty when absent; zero-length PINGs are valid. */
export function parsePingEcho (payload: Uint8Array): Uint8Array {
  if (payload.length === 0) return EMPTY_BYTES
  const echo = decodePayloadMap(payload, CONTROL_CBOR_LIMITS).get(PingKey.Echo)
  return echo instanceof Uint8Array ? echo : EMPTY_BYTES
}

/** `PONG {1: echo}` (always key 1, as the Rust relay answers). */
export function encodePong (echo: Uint8Array = EMPTY_BYTES): Buffer {
  return frameOf(MsgType.Pong, new Map<number, unknown>([[PingKey.Echo, echo]]))
}

/** An empty CLOSE frame (what upstream peers send). */
export function encodeClose (): Buffer {
  return encodeFrame(MsgType.Close)
}
