/**
 * The worker ids a relay accepts: ones an HTTP caller can address as the third segment of
 * `/v1/relay-for/{worker_id}/…`. Upstream node ids are directory ids (`^[a-zA-Z0-9][a-zA-Z0-9._:-]*$`,
 * at most 36 characters, UUIDs by default; directory-contract.md §3.1); the relay allows the
 * same alphabet up to {@link MAX_WORKER_ID_LENGTH} characters for deployments without a directory.
 * Every character of the alphabet is unreserved or allowed as-is in a path segment, so an id is
 * its own URL form; callers may still percent-encode it (the relay decodes the segment once).
 */

/** Longest worker id, in characters (ASCII, so also bytes). */
export const MAX_WORKER_ID_LENGTH = 128

/** The worker id alphabet: a letter or digit, then letters, digits, `.`, `_`, `:` and `-`. */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

/** The RELAY_ACK key 3 reason for an id outside the alphabet or too long. */
export const WORKER_ID_INVALID_REASON = `worker_id invalid: 1-${MAX_WORKER_ID_LENGTH} characters of A-Z a-z 0-9 . _ : - starting with a letter or digit`

/** True when `workerId` is in the alphabet and at most {@link MAX_WORKER_ID_LENGTH} characters. */
export function isValidWorkerId (workerId: string): boolean {
  return workerId.length <= MAX_WORKER_ID_LENGTH && WORKER_ID_PATTERN.test(workerId)
}

/**
 * Decodes one percent-encoded path segment (the `{worker_id}` of a relay-for URL). Undefined
 * for malformed escapes or a decoded value outside the worker id alphabet, so `w%2D1` and
 * `w-1` address the same worker and nothing decodes into `/`, `?` or control characters.
 */
export function workerIdFromPathSegment (segment: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(segment)
  } catch {
    return undefined
  }
  return isValidWorkerId(decoded) ? decoded : undefined
}
