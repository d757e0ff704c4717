/**
 * Relay bind tickets (spec §3.3): `<payload>.<sig>`, where `payload` is unpadded base64url of
 * a compact JSON claims object and `sig` is 128 hex characters of an Ed25519 signature over
 * `iicp:relay-bind-ticket:v1\n` followed by the payload's base64url text. Verification is
 * strict, like the Rust SDK: all eight claims with exact JSON types, canonical unpadded
 * base64url, `typ`, a 32-character lowercase hex `jti`, `sub`, `exp > now` and `aud`; the relay
 * adds a lifetime bound, an `iat` not in the future, and a not-before for its own start.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { ErrorCode, ToolkitError } from '../errors.ts'

/** The domain-separation prefix of the signed message (26 bytes including the LF). */
export const BIND_TICKET_SIGNING_PREFIX = 'iicp:relay-bind-ticket:v1\n'
/** The `typ` claim every bind ticket carries. */
export const BIND_TICKET_TYPE = 'relay-bind-ticket'

/** The eight claims of a bind ticket. */
export interface BindTicketClaims {
  /** Ticket format version (1). */
  v: number
  /** Always {@link BIND_TICKET_TYPE}. */
  typ: string
  /** One-use id: 32 lowercase hex characters (128 bits). */
  jti: string
  /** Issuer (the directory). */
  iss: string
  /** The worker's node id; must equal the RELAY_BIND worker id. */
  sub: string
  /** The relay's node id, or `"*"` for any relay. */
  aud: string
  /** Issued-at, Unix seconds (checked when the verifier bounds lifetime or start, see {@link VerifyBindTicketOptions}). */
  iat: number
  /** Expiry, Unix seconds; the ticket is valid while `exp > now`. */
  exp: number
}

/** Why {@link verifyBindTicket} rejected a token (for logs and tests; the wire says only "invalid"). */
export type BindTicketRejectReason =
  | 'malformed' | 'bad_signature' | 'bad_payload' | 'bad_claims' | 'wrong_typ' | 'bad_jti' | 'wrong_sub' | 'expired' | 'wrong_aud'
  | 'lifetime_too_long' | 'issued_in_future' | 'issued_before_start'

/** Result of {@link verifyBindTicket}. */
export type BindTicketVerification =
  | { ok: true, claims: BindTicketClaims }
  | { ok: false, reason: BindTicketRejectReason }

/** Inputs of {@link verifyBindTicket}. */
export interface VerifyBindTicketOptions {
  /** The directory's Ed25519 public key, 64 hex characters. */
  publicKeyHex: string
  /** The worker id from RELAY_BIND (key 1) or the HTTP bind body; must equal `sub`. */
  workerId: string
  /** This relay's audience id: tickets with `aud` equal to it or `"*"` pass. */
  audience: string
  /** The current time in Unix seconds. */
  nowSeconds: number
  /**
   * Refuse tickets valid for longer than this: `exp - iat`, and `exp - now`, beyond it plus
   * `clockSkewSeconds` (`lifetime_too_long`). Unchecked when absent (upstream behaviour).
   */
  maxLifetimeSeconds?: number
  /** Clock difference tolerated between issuer and verifier: `iat` may be this far in the future. @default 0 */
  clockSkewSeconds?: number
  /**
   * Refuse tickets issued (`iat`) before this Unix second (`issued_before_start`): a relay whose
   * replay cache started empty refuses tickets that may have been used before it started.
   */
  issuedNotBeforeSeconds?: number | undefined
}

const SIG_HEX = /^[0-9a-fA-F]{128}$/
const BASE64URL = /^[A-Za-z0-9_-]*$/
const JTI = /^[0-9a-f]{32}$/
const KEY_HEX = /^[0-9a-fA-F]{64}$/
// DER prefixes that wrap a raw 32-byte Ed25519 key into SPKI (public) and PKCS#8 (private).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const STRING_CLAIMS = ['typ', 'jti', 'iss', 'sub', 'aud'] as const
const INTEGER_CLAIMS = ['v', 'iat', 'exp'] as const
const utf8 = new TextDecoder('utf-8', { fatal: true })

let cachedKey: { hex: string, key: KeyObject } | undefined

/**
 * Turns a 64-hex Ed25519 public key into a KeyObject (the last one is cached, since a relay
 * verifies every ticket against the same key). Throws ERR_INVALID_CONFIG.
 */
export function bindTicketPublicKey (publicKeyHex: string): KeyObject {
  if (cachedKey?.hex === publicKeyHex) return cachedKey.key
  if (!KEY_HEX.test(publicKeyHex)) {
    throw new ToolkitError(ErrorCode.InvalidConfig, 'bind ticket public key must be 64 hex characters')
  }
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' })
  cachedKey = { hex: publicKeyHex, key }
  return key
}

/** Decodes unpadded, canonical base64url; undefined for anything else. */
function decodeBase64Url (text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined
  const bytes = Buffer.from(text, 'base64url')
  // Re-encoding must give the same text: rejects non-zero trailing bits (non-canonical forms).
  return bytes.toString('base64url') === text ? bytes : undefined
}

function parseClaims (payload: Buffer): BindTicketClaims | 'bad_payload' | 'bad_claims' {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(payload))
  } catch {
    return 'bad_payload'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'bad_claims'
  const obj = value as Record<string, unknown>
  for (const k of STRING_CLAIMS) if (typeof obj[k] !== 'string') return 'bad_claims'
  for (const k of INTEGER_CLAIMS) {
    const n = obj[k]
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return 'bad_claims'
  }
  if (obj.v !== 1) return 'bad_claims'
  return obj as unknown as BindTicketClaims
}

/**
 * Verifies a bind ticket for one worker at one relay. Never throws for a bad token; throws
 * ERR_INVALID_CONFIG only for a malformed public key.
 *
 * @example
 * ```ts
 * const r = verifyBindTicket(token, { publicKeyHex, workerId: 'w1', audience: 'relay-1', nowSeconds: Math.floor(Date.now() / 1000) })
 * if (!r.ok) console.log(r.reason)
 * ```
 */
export function verifyBindTicket (token: string, options: VerifyBindTicketOptions): BindTicketVerification {
  const key = bindTicketPublicKey(options.publicKeyHex)
  const dot = token.indexOf('.')
  if (dot <= 0) return { ok: false, reason: 'malformed' }
  const payloadText = token.slice(0, dot)
  const sigText = token.slice(dot + 1)
  if (!SIG_HEX.test(sigText)) return { ok: false, reason: 'malformed' }
  const message = Buffer.from(BIND_TICKET_SIGNING_PREFIX + payloadText, 'utf8')
  if (!verify(null, message, key, Buffer.from(sigText, 'hex'))) return { ok: false, reason: 'bad_signature' }
  const payload = decodeBase64Url(payloadText)
  if (payload === undefined) return { ok: false, reason: 'bad_payload' }
  const claims = parseClaims(payload)
  if (typeof claims === 'string') return { ok: false, reason: claims }
  if (claims.typ !== BIND_TICKET_TYPE) return { ok: false, reason: 'wrong_typ' }
  if (!JTI.test(claims.jti)) return { ok: false, reason: 'bad_jti' }
  if (claims.sub !== options.workerId) return { ok: false, reason: 'wrong_sub' }
  if (!(claims.exp > options.nowSeconds)) return { ok: false, reason: 'expired' }
  if (claims.aud !== '*' && claims.aud !== options.audience) return { ok: false, reason: 'wrong_aud' }
  const skew = options.clockSkewSeconds ?? 0
  if (options.maxLifetimeSeconds !== undefined) {
    const longest = options.maxLifetimeSeconds + skew
    if (claims.exp - claims.iat > longest || claims.exp - options.nowSeconds > longest) return { ok: false, reason: 'lifetime_too_long' }
    if (claims.iat > options.nowSeconds + skew) return { ok: false, reason: 'issued_in_future' }
  }
  if (options.issuedNotBeforeSeconds !== undefined && claims.iat < options.issuedNotBeforeSeconds) return { ok: false, reason: 'issued_before_start' }
  return { ok: true, claims }
}

/**
 * Issues a bind ticket, as a directory does: compact JSON with the claims' keys sorted,
 * unpadded base64url, and a lowercase-hex Ed25519 signature. `seedHex` is the 32-byte
 * Ed25519 private seed in 64 hex characters. Throws ERR_INVALID_CONFIG for a bad seed.
 */
export function signBindTicket (claims: BindTicketClaims, seedHex: string): string {
  if (!KEY_HEX.test(seedHex)) throw new ToolkitError(ErrorCode.InvalidConfig, 'bind ticket seed must be 64 hex characters')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(seedHex, 'hex')]), format: 'der', type: 'pkcs8' })
  const record = claims as unknown as Record<string, unknown>
  const sorted = Object.fromEntries(Object.keys(record).sort().map(k => [k, record[k]]))
  const payloadText = Buffer.from(JSON.stringify(sorted), 'utf8').toString('base64url')
  const sig = sign(null, Buffer.from(BIND_TICKET_SIGNING_PREFIX + payloadText, 'utf8'), privateKey)
  return `${payloadText}.${sig.toString('hex')}`
}

/** The Ed25519 public key (64 hex) for a 64-hex seed, e.g. to configure a relay in tests. */
export function bindTicketPublicKeyFromSeed (seedHex: string): string {
  if (!KEY_HEX.test(seedHex)) throw new ToolkitError(ErrorCode.InvalidConfig, 'bind ticket seed must be 64 hex characters')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(seedHex, 'hex')]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return spki.subarray(SPKI_ED25519_PREFIX.length).toString('hex')
}
