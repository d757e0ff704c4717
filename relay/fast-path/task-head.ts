/**
 * The request heads the relay's task fast path answers itself: `POST
 * /v1/relay-for/{wid}/v1/task HTTP/1.1`, whole in the bytes at hand, in a strict subset of
 * HTTP/1.1 that frames the body exactly as node:http would. Anything else (another route or
 * method, HTTP/1.0, a query, a head split across reads or longer than 16 KiB, bytes outside
 * printable ASCII, a bare CR or LF, a folded or malformed header line, `Transfer-Encoding`,
 * `Expect`, `Upgrade`, a missing or repeated `Host` or `Content-Length`, a body over the limit)
 * is not parsed here at all: the connection goes to node:http with its bytes, which answers it
 * (or refuses it) as the relay always did.
 */

/** A task call's head, as the fast path takes it. */
export interface TaskHead {
  /** The `{wid}` path segment, still percent-encoded. */
  workerSegment: string
  /** The body's length (`Content-Length`). */
  contentLength: number
  /** The client asked to close the connection after the answer (`Connection: close`). */
  close: boolean
  /** Where the body starts in the bytes parsed (after the blank line). */
  bodyStart: number
}

/** Longest head taken (node:http's default `maxHeaderSize`); a longer one goes to node:http. */
export const MAX_TASK_HEAD_BYTES = 16 * 1024
/** Most header lines taken. */
export const MAX_TASK_HEAD_FIELDS = 100

const HEAD_END = Buffer.from('\r\n\r\n')
const PREFIX = 'POST /v1/relay-for/'
const SUFFIX = '/v1/task HTTP/1.1'
/** Bytes a head may hold besides CRLF: HTAB and printable ASCII. */
const OUTSIDE_SUBSET = /[^\t\x20-\x7e\r\n]|\r(?!\n)|(?<!\r)\n/
/** An RFC 9110 token (a field name). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A segment that is not one plain path segment. */
const SEGMENT_OUTSIDE = /[/?#]/
const DIGITS = /^[0-9]{1,15}$/

/** A field value without its leading and trailing spaces and tabs. */
function fieldValue (line: string, colon: number): string {
  let from = colon + 1
  let to = line.length
  while (from < to && (line.charCodeAt(from) === 0x20 || line.charCodeAt(from) === 0x09)) from++
  while (to > from && (line.charCodeAt(to - 1) === 0x20 || line.charCodeAt(to - 1) === 0x09)) to--
  return line.slice(from, to)
}

/**
 * Parses the head at the start of `bytes` when it is a task call in the fast path's subset with
 * a body of at most `maxBodyBytes`; undefined otherwise (the caller then hands the connection
 * and these bytes to node:http).
 */
export function parseTaskHead (bytes: Buffer, maxBodyBytes: number): TaskHead | undefined {
  const end = bytes.indexOf(HEAD_END)
  if (end < 0 || end > MAX_TASK_HEAD_BYTES) return undefined
  const head = bytes.toString('latin1', 0, end)
  if (!head.startsWith(PREFIX) || OUTSIDE_SUBSET.test(head)) return undefined
  let lineEnd = head.indexOf('\r\n')
  if (lineEnd < 0) return undefined
  const requestLine = head.slice(0, lineEnd)
  if (!requestLine.endsWith(SUFFIX)) return undefined
  const workerSegment = requestLine.slice(PREFIX.length, requestLine.length - SUFFIX.length)
  if (workerSegment === '' || workerSegment.includes(' ') || SEGMENT_OUTSIDE.test(workerSegment)) return undefined
  let contentLength = -1
  let hosts = 0
  let close = false
  let fields = 0
  while (lineEnd < head.length) {
    const from = lineEnd + 2
    lineEnd = head.indexOf('\r\n', from)
    if (lineEnd < 0) lineEnd = head.length
    if (++fields > MAX_TASK_HEAD_FIELDS) return undefined
    const line = head.slice(from, lineEnd)
    const colon = line.indexOf(':')
    if (colon <= 0) return undefined
    const name = line.slice(0, colon)
    if (!TOKEN.test(name)) return undefined
    // Only these names matter here; each is compared once its length says it may be one.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') hosts++
        break
      case 14:
        if (name.toLowerCase() === 'content-length') {
          const value = fieldValue(line, colon)
          if (contentLength >= 0 || !DIGITS.test(value)) return undefined
          contentLength = Number(value)
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined
        break
      case 6:
        if (name.toLowerCase() === 'expect') return undefined
        break
      case 7:
        if (name.toLowerCase() === 'upgrade') return undefined
        break
      case 10:
        if (name.toLowerCase() === 'connection') {
          for (const option of fieldValue(line, colon).toLowerCase().split(',')) {
            const o = option.trim()
            if (o === 'close') close = true
            else if (o === 'upgrade') return undefined
          }
        }
        break
    }
  }
  if (hosts !== 1 || contentLength < 0 || contentLength > maxBodyBytes) return undefined
  return { workerSegment, contentLength, close, bodyStart: end + 4 }
}
