/**
 * Server-side request bodies: read one with a size cap and an optional AbortSignal, and parse
 * it as a JSON object, or only check it is one and locate a few of its members (a large one
 * while it arrives, kept as its chunks). Shared by the relay's HTTP front and the NAT dial-back
 * reflector.
 */
import type { IncomingMessage } from 'node:http'
import { abortError } from '../abort.ts'
import { ErrorCode, ToolkitError } from '../errors.ts'
import { ByteChunks } from '../byte-chunks.ts'
import { CHUNKED_BODY_BYTES } from '../limits.ts'
import { JsonScanner, scanJson, type JsonNames, type JsonScan } from './json-members.ts'
import { parseJsonBytes } from './json-text.ts'

/**
 * Reads a request body of at most `limit` bytes. Rejects with ERR_BODY_TOO_LARGE (as soon as the
 * declared or received size exceeds the limit; the rest of the body is left unread, so answer
 * with `connection: close`), ERR_BAD_REQUEST (the client went away mid-body) or, when `signal`
 * fires, the signal's abort error.
 *
 * With `alloc`, the body is copied into the buffer `alloc(length)` returns, as it arrives when
 * a content-length is declared (pages of a buffer not yet written are not resident), once at
 * the end otherwise: e.g. a buffer with room for a frame around it
 * (`allocBodyWithFrameRoom`), so that a large body is allocated once on its way to a worker.
 *
 * @example
 * ```ts
 * const body = parseJsonObject(await readBody(req, 64 * 1024, signal))
 * ```
 */
export async function readBody (req: IncomingMessage, limit: number, signal?: AbortSignal, alloc?: (length: number) => Buffer): Promise<Buffer> {
  const declared = declaredLength(req)
  /** The body's final buffer, filled as chunks arrive (with `alloc` and a declared length). */
  const filling = alloc !== undefined && Number.isSafeInteger(declared) && declared >= 0 && declared <= limit ? alloc(declared) : undefined
  const chunks: Buffer[] = []
  let size = 0
  await receive(req, declared, limit, signal, chunk => {
    if (filling === undefined) {
      chunks.push(chunk)
      return
    }
    if (size + chunk.length > filling.length) throw new ToolkitError(ErrorCode.BadRequest, 'request body is longer than its content-length')
    chunk.copy(filling, size)
    size += chunk.length
  })
  if (filling !== undefined) {
    if (size !== filling.length) throw new ToolkitError(ErrorCode.BadRequest, 'request body is shorter than its content-length')
    return filling
  }
  const length = chunks.reduce((n, c) => n + c.length, 0)
  if (alloc !== undefined) {
    const out = alloc(length)
    let at = 0
    for (const c of chunks) at += c.copy(out, at)
    return out
  }
  return chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, length)
}

/**
 * Reads a request body that must be one JSON object as the chunks it arrives in (never joined,
 * never copied), scanning it on the way for the top-level members `names`. Rejects like
 * {@link readBody}, and with ERR_BAD_REQUEST (after the whole body) like {@link scanJsonObject}.
 */
export async function readJsonObjectChunks (req: IncomingMessage, limit: number, names: JsonNames, signal?: AbortSignal): Promise<{ body: ByteChunks, scan: JsonScan }> {
  const chunks: Buffer[] = []
  const scan = new JsonObjectChunkScan(names)
  await receive(req, declaredLength(req), limit, signal, chunk => {
    chunks.push(chunk)
    scan.push(chunk)
  })
  return { body: new ByteChunks(chunks), scan: scan.end() }
}

/**
 * Checks a body that arrives in chunks to be one JSON object, scanning each chunk as it comes
 * (while it is in the cache) for the top-level members `names`. After the first byte that
 * breaks the grammar the rest is not scanned; {@link JsonObjectChunkScan.end} then throws
 * ERR_BAD_REQUEST like {@link scanJsonObject}.
 */
export class JsonObjectChunkScan {
  readonly #scanner: JsonScanner
  #invalid: Error | undefined

  constructor (names: JsonNames) {
    this.#scanner = new JsonScanner(names)
  }

  /** Scans the next chunk. */
  push (chunk: Buffer): void {
    if (this.#invalid !== undefined) return
    try {
      this.#scanner.push(chunk)
    } catch (err) {
      this.#invalid = err as Error
    }
  }

  /** The scan of the whole body; throws ERR_BAD_REQUEST unless it is one JSON object. */
  end (): JsonScan {
    return objectScan(() => {
      if (this.#invalid !== undefined) throw this.#invalid
      return this.#scanner.end()
    })
  }
}

/**
 * The request's declared content-length (NaN without one), found in `req.rawHeaders`: the
 * `req.headers` object node:http builds on first access costs more than this search when only
 * this one header is needed. node:http refuses a request with two different content-lengths.
 */
export function declaredLength (req: IncomingMessage): number {
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(raw[i + 1])
  }
  return NaN
}

/**
 * Hands each chunk of a request body of at most `limit` bytes (`declared`: its content-length)
 * to `onChunk` (which may throw a ToolkitError to stop); resolves at its end. Rejects like
 * {@link readBody}.
 */
async function receive (req: IncomingMessage, declared: number, limit: number, signal: AbortSignal | undefined, onChunk: (chunk: Buffer) => void): Promise<void> {
  if (declared > limit) throw tooLarge(limit)
  if (signal?.aborted === true) throw abortError(signal, 'request body')
  if (req.readableFlowing !== true && declared < CHUNKED_BODY_BYTES) {
    // The usual small task comes in the packet of its headers. node:http emits 'request' before
    // it parses the rest of that packet and has pushed the body one microtask later; the stream's
    // events would deliver it several ticks after that. A body that is all there is taken at once
    // (node:http never buffers more than the content-length); the stream is then resumed so that
    // it still ends and closes as a read one does.
    if (req.readableLength < declared) await Promise.resolve()
    if (req.readableLength === declared) {
      const all = req.read() as Buffer | null
      req.resume()
      if (all !== null) onChunk(all)
      return
    }
  }
  await new Promise<void>((resolve, reject) => {
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err: ToolkitError): void => {
      cleanup()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        fail(tooLarge(limit))
        return
      }
      try {
        onChunk(chunk)
      } catch (err) {
        fail(err as ToolkitError)
      }
    }
    const onEnd = (): void => {
      cleanup()
      resolve()
    }
    const onError = (err: Error): void => { fail(new ToolkitError(ErrorCode.BadRequest, 'request body failed', { cause: err })) }
    const onClose = (): void => { fail(new ToolkitError(ErrorCode.BadRequest, 'client closed the request before its body ended')) }
    const onAbort = (): void => { fail(abortError(signal, 'request body')) }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function tooLarge (limit: number): ToolkitError {
  return new ToolkitError(ErrorCode.BodyTooLarge, `request body exceeds ${limit} bytes`, { details: { limit } })
}

/** Parses a JSON object body; throws ERR_BAD_REQUEST for invalid JSON or a non-object. */
export function parseJsonObject (body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = parseJsonBytes(body)
  } catch (err) {
    throw new ToolkitError(ErrorCode.BadRequest, 'request body is not valid JSON', { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ToolkitError(ErrorCode.BadRequest, 'request body must be a JSON object')
  }
  return value as Record<string, unknown>
}

/**
 * Checks that `body` is one JSON object without building it, and locates the top-level members
 * `names` (see src/http/json-members.ts for what the scan does not check). Throws
 * ERR_BAD_REQUEST like {@link parseJsonObject}.
 */
export function scanJsonObject (body: Buffer, names: JsonNames): JsonScan {
  return objectScan(() => scanJson(body, names))
}

/** Runs a scan of a request body; throws ERR_BAD_REQUEST unless the body is one JSON object. */
function objectScan (scan: () => JsonScan): JsonScan {
  let result: JsonScan
  try {
    result = scan()
  } catch (err) {
    throw new ToolkitError(ErrorCode.BadRequest, 'request body is not valid JSON', { cause: err })
  }
  if (!result.isObject) throw new ToolkitError(ErrorCode.BadRequest, 'request body must be a JSON object')
  return result
}
