/**
 * Reading a worker's buffered answer (RESPONSE key 5) without parsing it: a bounded scan
 * (src/http/json-members.ts) checks that it is one JSON object and finds its top-level
 * `error`, `result`, `task_id` and `status`. An answer is a failure only when `error` is
 * present, not null or false, and there is no `result`; only then is it parsed, so the 500
 * can keep the worker's error object and other members. A success is kept as bytes (a large
 * one as the chunks it arrived in), for the HTTP answer to splice, and joined and parsed only
 * if a library caller reads `raw` or `result`.
 */
import { ByteChunks, joinBytes } from '../src/byte-chunks.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { isNullOrFalse, jsonNames, scanJson, scanJsonChunks } from '../src/http/json-members.ts'
import { parseJsonBytes } from '../src/http/json-text.ts'
import type { ForwardResult } from './forwarder.ts'

const ANSWER_NAMES = jsonNames(['error', 'result', 'task_id', 'status'])
const ERROR = 0
const RESULT = 1
const TASK_ID = 2
const STATUS = 3

/** A successful answer: the worker's bytes, where its object opens, and whether it overrides the relay's keys. */
export class WorkerAnswer implements ForwardResult {
  /** The worker's bytes: one buffer, or a large answer's chunks. */
  readonly bytes: Buffer | ByteChunks
  /** Index of the answer's `{`. */
  readonly open: number
  /** The answer has no members (`{}`). */
  readonly empty: boolean
  /** The answer has its own `task_id` or `status` (they override the relay's). */
  readonly overridesRelayKeys: boolean
  #result: Record<string, unknown> | undefined

  constructor (bytes: Buffer | ByteChunks, open: number, empty: boolean, overridesRelayKeys: boolean) {
    this.bytes = bytes
    this.open = open
    this.empty = empty
    this.overridesRelayKeys = overridesRelayKeys
  }

  /** The answer's bytes as one buffer (chunks are joined on first use). */
  get raw (): Buffer {
    return joinBytes(this.bytes)
  }

  /** The answer as an object, parsed on first use. */
  get result (): Record<string, unknown> {
    this.#result ??= parseJsonBytes(this.raw) as Record<string, unknown>
    return this.#result
  }
}

/** The message of a worker's `error` member: a string, an object's `message`, or its JSON. */
export function workerErrorMessage (error: unknown): string {
  if (typeof error === 'string') return error
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message
  }
  return error === null || error === undefined ? 'worker error' : JSON.stringify(error)
}

/**
 * Reads a RESPONSE body. Throws ERR_BAD_RESULT (not one JSON object) or ERR_WORKER_ERROR
 * (`details.message`, and `details.answer`: the worker's whole answer object).
 */
export function interpretWorkerAnswer (bytes: Buffer | ByteChunks): WorkerAnswer {
  let scan
  try {
    scan = bytes instanceof ByteChunks ? scanJsonChunks(bytes.parts, ANSWER_NAMES) : scanJson(bytes, ANSWER_NAMES)
  } catch (err) {
    throw new ToolkitError(ErrorCode.BadResult, 'worker returned a result that is not valid JSON', { cause: err })
  }
  if (!scan.isObject) throw new ToolkitError(ErrorCode.BadResult, 'worker returned a result that is not a JSON object')
  const error = scan.spans[ERROR]
  if (error !== undefined && !isNullOrFalse(error) && scan.spans[RESULT] === undefined) {
    // Failures are rare: parse the whole answer so nothing the worker said is lost.
    let answer: Record<string, unknown>
    try {
      answer = parseJsonBytes(joinBytes(bytes)) as Record<string, unknown>
    } catch (err) {
      // A raw control character in a string: the one thing the scan does not look for.
      throw new ToolkitError(ErrorCode.BadResult, 'worker returned a result that is not valid JSON', { cause: err })
    }
    const message = workerErrorMessage(answer.error)
    throw new ToolkitError(ErrorCode.WorkerError, message, { details: { message, answer } })
  }
  return new WorkerAnswer(bytes, scan.open, scan.members === 0, scan.spans[TASK_ID] !== undefined || scan.spans[STATUS] !== undefined)
}
