/**
 * Short-lived TURN credentials in coturn's REST-API scheme (`use-auth-secret`): the username is
 * `<expiry unix seconds>:<id>` and the password `base64(HMAC-SHA1(secret, username))`. coturn
 * recomputes the password from the shared secret and refuses the username once its expiry has
 * passed, so the relay never stores a credential.
 */
import { createHmac } from 'node:crypto'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import type { IceServer } from '../src/transport/ice/types.ts'

/** Longest credential lifetime the relay hands out (the bound: 10 minutes). */
export const MAX_TURN_TTL_SECONDS = 600

/** The relay's ICE server configuration (`--turn-url`, `--turn-secret`, its own STUN). */
export interface IceServerConfig {
  /** `turn:host:port` URLs (repeatable flag). */
  turnUrls: readonly string[]
  /** coturn's `static-auth-secret`. */
  turnSecret: string | undefined
  /** Credential lifetime in seconds (≤ {@link MAX_TURN_TTL_SECONDS}). @default 600 */
  ttlSeconds?: number
  /** `stun:host:port` URLs put first in every list (e.g. the relay's own STUN server). */
  stunUrls?: readonly string[]
}

/** One minted credential. */
export interface TurnCredential {
  username: string
  credential: string
  /** Unix seconds after which coturn refuses it. */
  expiresAt: number
}

/** Mints one credential for `id` valid `ttlSeconds` from `nowSeconds`. */
export function mintTurnCredential (secret: string, id: string, ttlSeconds: number, nowSeconds = Math.floor(Date.now() / 1000)): TurnCredential {
  const expiresAt = nowSeconds + ttlSeconds
  const username = `${expiresAt}:${id}`
  const credential = createHmac('sha1', secret).update(username).digest('base64')
  return { username, credential, expiresAt }
}

/** Checks the configuration; throws ERR_INVALID_CONFIG. */
export function validateIceServerConfig (config: IceServerConfig): void {
  for (const url of config.turnUrls) {
    if (!/^turns?:[^\s?]+(\?transport=(udp|tcp))?$/i.test(url)) {
      throw new ToolkitError(ErrorCode.InvalidConfig, `--turn-url must look like turn:host:port, got "${url}"`)
    }
  }
  for (const url of config.stunUrls ?? []) {
    if (!/^stun:\S+$/i.test(url)) throw new ToolkitError(ErrorCode.InvalidConfig, `STUN URL must look like stun:host:port, got "${url}"`)
  }
  if (config.turnUrls.length > 0 && (config.turnSecret === undefined || config.turnSecret === '')) {
    throw new ToolkitError(ErrorCode.InvalidConfig, '--turn-url needs --turn-secret (coturn static-auth-secret)')
  }
  const ttl = config.ttlSeconds ?? MAX_TURN_TTL_SECONDS
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TURN_TTL_SECONDS) {
    throw new ToolkitError(ErrorCode.InvalidConfig, `TURN credential lifetime must be 1-${MAX_TURN_TTL_SECONDS} s, got ${String(config.ttlSeconds)}`)
  }
}

/** The ICE server list for one connect attempt: STUN URLs, then every TURN URL with a fresh credential for `id`. */
export function iceServersFor (config: IceServerConfig, id: string, nowSeconds?: number): { iceServers: IceServer[], expiresAt: number | undefined } {
  const iceServers: IceServer[] = (config.stunUrls ?? []).map(urls => ({ urls }))
  let expiresAt: number | undefined
  if (config.turnSecret !== undefined && config.turnUrls.length > 0) {
    const c = mintTurnCredential(config.turnSecret, id, config.ttlSeconds ?? MAX_TURN_TTL_SECONDS, nowSeconds)
    expiresAt = c.expiresAt
    for (const urls of config.turnUrls) iceServers.push({ urls, username: c.username, credential: c.credential })
  }
  return { iceServers, expiresAt }
}
