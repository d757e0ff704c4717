/**
 * Relay-port messages (INIT, ACK, RELAY_BIND, RELAY_ACK, CALL, RESPONSE, PING, PONG, CLOSE)
 * as the upstream IICP SDKs put them on the wire (spec §2.5): encoders that emit canonical
 * CBOR, and strict parsers that accept any key order and ignore unknown keys.
 */
import { ErrorCode, ToolkitError } from '../errors.ts'
import { FRAME_HEADER_BYTES } from '../limits.ts'
import { decodePayloadMap, encodeCbor } from './cbor.ts'
import { encodeFrame, MsgType, writeFrameHeader } from './frame.ts'

/** Integer map keys used on the relay port. */
export const Key = {
  /** INIT/ACK version; RELAY_BIND worker_id; RELAY_ACK status; PING/PONG echo; lifecycle version. */
  One: 1,
  /** RELAY_BIND intent; RELAY_ACK worker_id; stream/lifecycle session_id. */
  Two: 2,
  /** RELAY_BIND models; RELAY_ACK reason; lifecycle call_id. */
  Three: 3,
  /** RELAY_BIND ticket; RELAY_ACK relay HTTP port; lifecycle status. */
  Four: 4,
  /** CALL/RESPONSE body (bstr of UTF-8 JSON); lifecycle result. */
  Body: 5,
  /** Lifecycle error `{1: code, 2: message}`. */
  Error: 6,
  /** Lifecycle tokens used. */
  TokensUsed: 7,
  /** Lifecycle is_final. */
  IsFinal: 12,
  /** Lifecycle block `{1: task_id, 2: sequence, 3: event, 4: is_final}`; its presence marks a lifecycle RESPONSE. */
  Lifecycle: 13,
  /** Buffered CALL/RESPONSE call_id. */
  CallId: 15,
  /** Stream CALL task_id. */
  TaskId: 24
} as const

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
  return frameOf(MsgType.Init, new Map([[Key.One, 1]]))
}

/** `ACK {1:1}` (relay → worker). */
export function encodeAck (): Buffer {
  return frameOf(MsgType.Ack, new Map([[Key.One, 1]]))
}

/** `RELAY_BIND {1:worker_id, 2:intent, 3:[models], 4?:ticket}`. */
export function encodeRelayBind (bind: RelayBind): Buffer {
  const map = new Map<number, unknown>([[Key.One, bind.workerId], [Key.Two, bind.intent], [Key.Three, bind.models]])
  if (bind.ticket !== undefined && bind.ticket !== '') map.set(Key.Four, bind.ticket)
  return frameOf(MsgType.RelayBind, map)
}

/**
 * Parses a RELAY_BIND payload. A missing or empty worker id throws ERR_PROTOCOL (the relay
 * then closes silently). A bstr worker id is accepted as UTF-8, as the Rust relay does.
 */
export function parseRelayBind (payload: Uint8Array): RelayBind {
  const map = decodePayloadMap(payload)
  const workerId = textOf(map.get(Key.One))
  if (workerId === undefined || workerId === '') throw protocolError('RELAY_BIND without worker_id')
  const intent = textOf(map.get(Key.Two)) ?? ''
  const rawModels = map.get(Key.Three)
  const models = Array.isArray(rawModels) ? rawModels.filter((m): m is string => typeof m === 'string') : []
  const ticket = textOf(map.get(Key.Four))
  return ticket === undefined || ticket === '' ? { workerId, intent, models } : { workerId, intent, models, ticket }
}

/** `RELAY_ACK {1:"ok", 2:worker_id, 4:http_port}`. */
export function encodeRelayAckOk (workerId: string, httpPort: number): Buffer {
  return frameOf(MsgType.RelayAck, new Map<number, unknown>([[Key.One, 'ok'], [Key.Two, workerId], [Key.Four, httpPort]]))
}

/** `RELAY_ACK {1:"error", 2:worker_id, 3:reason}` (the relay closes after sending it). */
export function encodeRelayAckError (workerId: string, reason: string): Buffer {
  return frameOf(MsgType.RelayAck, new Map<number, unknown>([[Key.One, 'error'], [Key.Two, workerId], [Key.Three, reason]]))
}

/** Parses a RELAY_ACK. `httpPort` is undefined unless key 4 is an unsigned integer port. */
export function parseRelayAck (payload: Uint8Array): RelayAck {
  const map = decodePayloadMap(payload)
  const status = textOf(map.get(Key.One))
  const workerId = textOf(map.get(Key.Two)) ?? ''
  if (status === 'ok') {
    const port = map.get(Key.Four)
    const httpPort = typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined
    return { ok: true, workerId, httpPort }
  }
  return { ok: false, workerId, reason: textOf(map.get(Key.Three)) ?? (status ?? 'unknown') }
}

/** Writes a CBOR head (major type + length) into `out` at `offset`; returns the new offset. */
function writeCborHead (out: Buffer, offset: number, major: number, length: number): number {
  const m = major << 5
  if (length < 24) { out[offset] = m | length; return offset + 1 }
  if (length < 0x100) { out[offset] = m | 24; out[offset + 1] = length; return offset + 2 }
  if (length < 0x10000) { out[offset] = m | 25; out.writeUInt16BE(length, offset + 1); return offset + 3 }
  out[offset] = m | 26
  out.writeUInt32BE(length, offset + 1)
  return offset + 5
}

function cborHeadSize (length: number): number {
  return length < 24 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

/**
 * Builds `{5: bstr(body), 15: call_id}` (canonical order) as one frame, with a single copy of
 * the body. Used for CALL (relay → worker) and RESPONSE (worker → relay) on the hot path.
 */
function encodeBodyFrame (type: number, callId: string, body: Uint8Array): Buffer {
  const idBytes = Buffer.byteLength(callId, 'utf8')
  const payloadLength = 1 + 1 + cborHeadSize(body.length) + body.length + 1 + cborHeadSize(idBytes) + idBytes
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength)
  writeFrameHeader(out, 0, type, payloadLength)
  let o = FRAME_HEADER_BYTES
  out[o++] = 0xa2
  out[o++] = Key.Body
  o = writeCborHead(out, o, 2, body.length)
  out.set(body, o)
  o += body.length
  out[o++] = Key.CallId
  o = writeCborHead(out, o, 3, idBytes)
  out.write(callId, o, 'utf8')
  return out
}

/** `CALL {15:call_id, 5:bstr(UTF-8 JSON of the task)}`. */
export function encodeCall (callId: string, taskJson: Uint8Array): Buffer {
  return encodeBodyFrame(MsgType.Call, callId, taskJson)
}

/** Stream CALL `{2:session_id, 15:call_id, 24:task_id, 5:bstr(JSON)}`. */
export function encodeStreamCall (callId: string, sessionId: string, taskId: string, taskJson: Uint8Array): Buffer {
  return frameOf(MsgType.Call, new Map<number, unknown>([[Key.Two, sessionId], [Key.Body, taskJson], [Key.CallId, callId], [Key.TaskId, taskId]]))
}

/** Reads a CBOR head of `major` at `o`: the item's length and where its content starts. */
function readCborHead (p: Uint8Array, o: number, major: number): { length: number, start: number } | undefined {
  const first = p[o]
  if (first === undefined || first >> 5 !== major) return undefined
  const info = first & 0x1f
  const view = Buffer.from(p.buffer, p.byteOffset, p.byteLength)
  if (info < 24) return { length: info, start: o + 1 }
  if (info === 24 && o + 2 <= p.length) return { length: view.readUInt8(o + 1), start: o + 2 }
  if (info === 25 && o + 3 <= p.length) return { length: view.readUInt16BE(o + 1), start: o + 3 }
  if (info === 26 && o + 5 <= p.length) return { length: view.readUInt32BE(o + 1), start: o + 5 }
  return undefined
}

/**
 * Fast path for the hot CALL/RESPONSE shape `{5: bstr, 15: tstr}` in either key order (any
 * integer width up to 32 bits): the body is returned as a view, without a copy. Anything else
 * (other keys, duplicates, a text body, trailing bytes) returns undefined and takes the
 * general strict decoder.
 */
function readBodyAndCallId (p: Uint8Array): { callId: string, body: Buffer } | undefined {
  if (p[0] !== 0xa2) return undefined
  let o = 1
  let callId: string | undefined
  let body: Buffer | undefined
  for (let i = 0; i < 2; i++) {
    const key = p[o++]
    const head = readCborHead(p, o, key === Key.Body ? 2 : 3)
    if (head === undefined || head.start + head.length > p.length) return undefined
    const value = Buffer.from(p.buffer, p.byteOffset + head.start, head.length)
    if (key === Key.Body && body === undefined) body = value
    else if (key === Key.CallId && callId === undefined) callId = value.toString('utf8')
    else return undefined
    o = head.start + head.length
  }
  return o === p.length && callId !== undefined && body !== undefined ? { callId, body } : undefined
}

/** Parses a CALL. Key 5 may be bstr or tstr; a missing call id or body throws ERR_PROTOCOL. */
export function parseCall (payload: Uint8Array): CallMessage {
  const fast = readBodyAndCallId(payload)
  if (fast !== undefined && fast.callId !== '') return fast
  const map = decodePayloadMap(payload)
  const callId = textOf(map.get(Key.CallId))
  if (callId === undefined || callId === '') throw protocolError('CALL without call_id')
  const body = bytesOf(map.get(Key.Body))
  if (body === undefined) throw protocolError('CALL without a task body')
  const taskId = textOf(map.get(Key.TaskId))
  const sessionId = textOf(map.get(Key.Two))
  return {
    callId,
    body,
    ...(taskId === undefined ? {} : { taskId }),
    ...(taskId === undefined || sessionId === undefined ? {} : { sessionId })
  }
}

/** Best-effort call id of a CALL that failed to parse, so the worker can still answer it. */
export function peekCallId (payload: Uint8Array): string | undefined {
  try {
    const id = textOf(decodePayloadMap(payload).get(Key.CallId))
    return id === '' ? undefined : id
  } catch {
    return undefined
  }
}

/** `RESPONSE {15:call_id, 5:bstr(UTF-8 JSON of the handler result)}`. */
export function encodeResponse (callId: string, resultJson: Uint8Array): Buffer {
  return encodeBodyFrame(MsgType.Response, callId, resultJson)
}

/** Encodes a lifecycle RESPONSE (spec §2.5), as streaming workers send it. */
export function encodeLifecycleResponse (e: LifecycleEvent): Buffer {
  const map = new Map<number, unknown>([
    [Key.One, 1], [Key.Two, e.sessionId], [Key.Three, e.callId], [Key.Four, e.status], [Key.IsFinal, e.isFinal],
    [Key.Lifecycle, new Map<number, unknown>([[1, e.lifecycle.taskId], [2, e.lifecycle.sequence], [3, e.lifecycle.event], [4, e.lifecycle.isFinal]])]
  ])
  if (e.result !== undefined) map.set(Key.Body, e.result)
  if (e.error !== undefined) map.set(Key.Error, new Map<number, unknown>([[1, e.error.code], [2, e.error.message]]))
  if (e.tokensUsed !== undefined) map.set(Key.TokensUsed, e.tokensUsed)
  return frameOf(MsgType.Response, map)
}

function parseLifecycle (map: Map<unknown, unknown>, rawBlock: unknown): LifecycleEvent {
  if (!(rawBlock instanceof Map)) throw protocolError('lifecycle RESPONSE key 13 is not a map')
  const block = rawBlock as Map<unknown, unknown>
  const callId = textOf(map.get(Key.Three))
  const status = textOf(map.get(Key.Four))
  const isFinal = map.get(Key.IsFinal)
  const taskId = textOf(block.get(1))
  const sequence = block.get(2)
  const event = textOf(block.get(3))
  const lcFinal = block.get(4)
  if (callId === undefined || status === undefined || typeof isFinal !== 'boolean' || taskId === undefined ||
    typeof sequence !== 'number' || event === undefined || typeof lcFinal !== 'boolean') {
    throw protocolError('malformed lifecycle RESPONSE')
  }
  const out: LifecycleEvent = {
    sessionId: textOf(map.get(Key.Two)) ?? '',
    callId,
    status,
    isFinal,
    lifecycle: { taskId, sequence, event, isFinal: lcFinal }
  }
  if (map.has(Key.Body)) out.result = map.get(Key.Body)
  const err = map.get(Key.Error)
  if (err instanceof Map) out.error = { code: textOf(err.get(1)) ?? '', message: textOf(err.get(2)) ?? '' }
  const tokens = map.get(Key.TokensUsed)
  if (typeof tokens === 'number') out.tokensUsed = tokens
  return out
}

/** Parses a RESPONSE: lifecycle when key 13 is present, otherwise buffered (key 15 + key 5). */
export function parseResponse (payload: Uint8Array): ResponseMessage {
  const fast = readBodyAndCallId(payload)
  if (fast !== undefined && fast.callId !== '') return { kind: 'buffered', ...fast }
  const map = decodePayloadMap(payload)
  if (map.has(Key.Lifecycle)) return { kind: 'lifecycle', event: parseLifecycle(map, map.get(Key.Lifecycle)) }
  const callId = textOf(map.get(Key.CallId))
  if (callId === undefined || callId === '') throw protocolError('RESPONSE without call_id')
  const body = bytesOf(map.get(Key.Body)) ?? Buffer.alloc(0)
  return { kind: 'buffered', callId, body }
}

/** `PING {1: echo}`; the worker keepalive is `PING {1:h''}`. */
export function encodePing (echo: Uint8Array = EMPTY_BYTES): Buffer {
  return frameOf(MsgType.Ping, new Map<number, unknown>([[Key.One, echo]]))
}

/** The echo bytes of a PING (key 1), or empty when absent; zero-length PINGs are valid. */
export function parsePingEcho (payload: Uint8Array): Uint8Array {
  if (payload.length === 0) return EMPTY_BYTES
  const echo = decodePayloadMap(payload).get(Key.One)
  return echo instanceof Uint8Array ? echo : EMPTY_BYTES
}

/** `PONG {1: echo}` (always key 1, as the Rust relay answers). */
export function encodePong (echo: Uint8Array = EMPTY_BYTES): Buffer {
  return frameOf(MsgType.Pong, new Map<number, unknown>([[Key.One, echo]]))
}

/** An empty CLOSE frame (what upstream peers send). */
export function encodeClose (): Buffer {
  return encodeFrame(MsgType.Close)
}
