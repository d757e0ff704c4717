/**
 * `GET /v1/ice-servers?worker=WID`: the ICE server list a consumer uses for a direct-path upgrade
 * and puts into its connect offer, so the worker uses the same servers (the worker needs no
 * HTTP access to the relay). TURN entries carry fresh coturn REST credentials valid at most ten
 * minutes. Anyone who can reach the relay's HTTP front can fetch them, so the route is rate
 * limited per source address; coturn should refuse relaying to private ranges (`denied-peer-ip`).
 */
import { listFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../src/cli/args.ts'
import { IicpCode } from '../src/errors.ts'
import type { ExtensionRoute } from '../src/http/route.ts'
import { createFixedWindowLimiter } from '../src/rate-limit.ts'
import { iceServersFor, validateIceServerConfig, type IceServerConfig } from './turn-credentials.ts'

/** Lists handed out per source address per minute. */
export const ICE_SERVERS_RATE_LIMIT = 60
const WINDOW_MS = 60_000
const MAX_SOURCES = 10_000
const WORKER_ID = /^[^/%?#\s]{1,256}$/

/** The route; throws ERR_INVALID_CONFIG for a bad configuration. */
export function createIceServersRoute (config: IceServerConfig): ExtensionRoute {
  validateIceServerConfig(config)
  const limiter = createFixedWindowLimiter({ limit: ICE_SERVERS_RATE_LIMIT, windowMs: WINDOW_MS, maxKeys: MAX_SOURCES, whenFull: 'evict-oldest' })
  return {
    method: 'GET',
    path: '/v1/ice-servers',
    handler: async (req, reply) => {
      const verdict = limiter.hit(req.socket.remoteAddress ?? '', performance.now())
      if (!verdict.allowed) {
        const retry = verdict.reason === 'over_limit' ? Math.ceil(verdict.retryAfterMs / 1000) : 60
        reply.error(429, IicpCode.Capacity, 'too many ICE server requests', { 'retry-after': String(retry) })
        return
      }
      const worker = new URL(req.url ?? '/', 'http://relay').searchParams.get('worker') ?? ''
      if (!WORKER_ID.test(worker)) {
        reply.error(400, IicpCode.InvalidRequest, 'query parameter worker must be a worker id')
        return
      }
      const { iceServers, expiresAt } = iceServersFor(config, worker)
      reply.json(200, { ice_servers: iceServers, expires_at: expiresAt ?? null }, { 'cache-control': 'no-store' })
      await Promise.resolve()
    }
  }
}

/** The relay's ICE flags (`--turn-url`, `--turn-secret`, `--stun-url`). */
export const ICE_SERVER_FLAGS: readonly FlagSpec[] = [
  { name: 'turn-url', type: 'string', multiple: true, env: 'IICP_RELAY_TURN_URL', valueName: 'URL', description: 'TURN server for direct-path upgrades, e.g. turn:turn.example:3478; needs --turn-secret' },
  { name: 'turn-secret', type: 'string', env: 'IICP_RELAY_TURN_SECRET', valueName: 'SECRET', description: 'coturn static-auth-secret: the relay mints TURN credentials valid 10 minutes' },
  { name: 'stun-url', type: 'string', multiple: true, env: 'IICP_RELAY_STUN_URL', valueName: 'URL', description: 'STUN server handed to direct-path peers, e.g. stun:relay.example:3478' }
]

/** The `GET /v1/ice-servers` route when `--turn-url` or `--stun-url` is given. Throws ERR_USAGE for bad flags. */
export function iceServerRoutesFromFlags (values: FlagValues): ExtensionRoute[] {
  const turnUrls = listFlag(values, 'turn-url')
  const stunUrls = listFlag(values, 'stun-url')
  const turnSecret = stringFlag(values, 'turn-secret')
  if (turnUrls.length === 0 && stunUrls.length === 0) {
    if (turnSecret !== undefined) throw usageError('--turn-secret needs --turn-url')
    return []
  }
  try {
    return [createIceServersRoute({ turnUrls, turnSecret, stunUrls })]
  } catch (err) {
    throw usageError((err as Error).message)
  }
}
