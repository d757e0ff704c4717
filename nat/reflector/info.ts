/**
 * The NAT discovery document, `GET /v1/nat/info`: what a relay offers `iicp-nat probe`, so that
 * `iicp-nat probe --reflector http://relay:9484` alone is enough. It lists the relay's STUN
 * addresses (primary first, then the RFC 5780 alternate; a wildcard host is `null`, meaning "the
 * host of the URL you asked") and its dial-back reflector path:
 *
 * ```json
 * {"schema":"iicp-nat-info/v1","stun":[{"host":"203.0.113.5","port":3478},{"host":"203.0.113.6","port":3479}],
 *  "stun_rfc5780":true,"reflectors":["/v1/nat/dialback"]}
 * ```
 */
import type { ExtensionRoute } from '../../src/http/route.ts'
import { tryParseIp } from '../net/addr.ts'
import { DIALBACK_PATH } from './dialback.ts'

/** Path of the discovery document. */
export const NAT_INFO_PATH = '/v1/nat/info'
/** Schema id of the discovery document. */
export const NAT_INFO_SCHEMA = 'iicp-nat-info/v1'

/** One advertised STUN address; `host` null means the host of the URL the document was fetched from. */
export interface NatInfoStun { host: string | null, port: number }

/** The discovery document. */
export interface NatInfo {
  schema: typeof NAT_INFO_SCHEMA
  /** STUN addresses, primary first. */
  stun: NatInfoStun[]
  /** The STUN server has a second address and port (RFC 5780 behaviour discovery). */
  stun_rfc5780: boolean
  /** Dial-back reflector URLs or paths (a path is relative to the document's origin). */
  reflectors: string[]
}

/** What the route advertises (read on every request: the STUN server may start after the route is built). */
export interface NatInfoSource {
  /** The STUN server's bound addresses, primary first; empty when none runs. */
  stun: () => Array<{ address: string, port: number }>
  /** The dial-back reflector is served. */
  reflector: boolean
}

/** A wildcard bind address is advertised as null (the client uses the relay's own host). */
function advertised (a: { address: string, port: number }): NatInfoStun {
  const ip = tryParseIp(a.address)
  return { host: ip === undefined || ip.range === 'unspecified' ? null : ip.address, port: a.port }
}

/** Builds the document. */
export function natInfo (source: NatInfoSource): NatInfo {
  const stun = source.stun().map(advertised)
  return { schema: NAT_INFO_SCHEMA, stun, stun_rfc5780: stun.length >= 2, reflectors: source.reflector ? [DIALBACK_PATH] : [] }
}

/**
 * Creates the `GET /v1/nat/info` route for the relay's HTTP front.
 *
 * @example
 * ```ts
 * const route = createNatInfoRoute({ stun: () => stunAddresses, reflector: true })
 * ```
 */
export function createNatInfoRoute (source: NatInfoSource): ExtensionRoute {
  return {
    method: 'GET',
    path: NAT_INFO_PATH,
    handler: async (_req, reply) => {
      reply.json(200, natInfo(source), { 'cache-control': 'max-age=60' })
      await Promise.resolve()
    }
  }
}
