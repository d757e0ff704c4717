/**
 * Errors on the internal link: an ERROR frame carries `{"code","message","details"}`, and the
 * calling relay rebuilds a ToolkitError with the same code, so its HTTP answer is the one a
 * local call would give.
 */
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode))

/** The JSON of an error on the link. */
export function errorJson (err: unknown): Buffer {
  const e = isToolkitError(err) ? err : new ToolkitError(ErrorCode.FleetLink, errorMessage(err))
  return Buffer.from(JSON.stringify({ code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) }), 'utf8')
}

/** Rebuilds the ToolkitError of an ERROR frame; anything unreadable is ERR_FLEET_LINK. */
export function parseLinkError (body: Buffer): ToolkitError {
  try {
    const o = JSON.parse(body.toString('utf8')) as { code?: unknown, message?: unknown, details?: unknown }
    if (typeof o.code === 'string' && KNOWN_CODES.has(o.code) && typeof o.message === 'string') {
      const details = typeof o.details === 'object' && o.details !== null ? o.details as Record<string, unknown> : undefined
      return new ToolkitError(o.code as ErrorCode, o.message, details === undefined ? {} : { details })
    }
  } catch {
    // Fall through.
  }
  return new ToolkitError(ErrorCode.FleetLink, 'owner relay answered with an unreadable error')
}
