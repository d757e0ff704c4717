/**
 * CORS for every relay response (spec §4, checklist 37): any origin, GET/POST/OPTIONS, and
 * the Content-Type and Authorization request headers; preflights are cached for a day.
 */
import type { ServerResponse } from 'node:http'

/** Headers every relay response carries. */
export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization'
} as const

/** Preflight cache lifetime in seconds. */
export const CORS_MAX_AGE_SECONDS = 86_400

/** Answers an OPTIONS preflight: 204 with the CORS headers and Max-Age. */
export function sendPreflight (res: ServerResponse): void {
  res.writeHead(204, { ...CORS_HEADERS, 'access-control-max-age': String(CORS_MAX_AGE_SECONDS) })
  res.end()
}
