/**
 * The STUN servers `iicp-nat probe` uses when none are given with `--stun`.
 *
 * These are well-known public servers that answer plain RFC 5389 Binding requests. None of
 * them offers RFC 5780 (a second IP and port), so with the defaults the mapping behaviour is
 * classified by comparing two servers' answers and the filtering behaviour stays `unknown`.
 * For full RFC 5780 results run a two-address server of your own (`createStunServer` with
 * an `alternate` address, or coturn with two `-L` addresses) and pass it with `--stun`.
 * Using the defaults sends one or two UDP packets to each of these third parties.
 */

/** A STUN server by host name or IP literal and UDP port. */
export interface StunServerSpec {
  /** Host name or IP literal. */
  host: string
  /** UDP port. */
  port: number
}

/** Default public STUN servers (Cloudflare, then two Google anycast names). */
export const DEFAULT_STUN_SERVERS: readonly StunServerSpec[] = Object.freeze([
  { host: 'stun.cloudflare.com', port: 3478 },
  { host: 'stun.l.google.com', port: 19302 },
  { host: 'stun1.l.google.com', port: 19302 }
])
