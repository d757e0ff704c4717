/**
 * Authentication of relay-to-relay calls: HMAC-SHA256 with the fleet secret over the fleet id,
 * the sender, a timestamp, a nonce, the call's metadata and its body. A receiver accepts a
 * timestamp within ±{@link LINK_CLOCK_WINDOW_MS} of its own clock and each nonce once within
 * that window (bounded: a table full of live nonces refuses rather than forgets).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** Header names of the internal link. */
export const LINK_HEADER = {
  from: 'x-iicp-fleet-from',
  ts: 'x-iicp-fleet-ts',
  nonce: 'x-iicp-fleet-nonce',
  meta: 'x-iicp-fleet-meta',
  sig: 'x-iicp-fleet-sig'
} as const

/** How far a sender's clock may be from the receiver's. Relays of a fleet keep their clocks in sync (NTP). */
export const LINK_CLOCK_WINDOW_MS = 5_000
/** Most nonces remembered at once. */
const MAX_NONCES = 500_000

/** What a call carries besides its body (signed). */
export interface LinkMeta {
  /** Target worker id. */
  w: string
  /** `call` (buffered) or `stream`. */
  k: 'call' | 'stream'
  /** The call's deadline in ms (for streams: per event). */
  to: number
  /** Stream session id (stream CALL key 2). */
  s?: string
  /** Stream task id (stream CALL key 24). */
  ti?: string
}

function mac (secret: string, fleetId: string, from: string, ts: string, nonce: string, meta: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${fleetId}\n${from}\n${ts}\n${nonce}\n${meta}\n`).update(body).digest()
}

/** Builds the signed headers of one call. */
export function signLink (secret: string, fleetId: string, from: string, meta: LinkMeta, body: Uint8Array): Record<string, string> {
  const ts = String(Date.now())
  const nonce = randomBytes(12).toString('base64url')
  const metaText = JSON.stringify(meta)
  return {
    [LINK_HEADER.from]: from,
    [LINK_HEADER.ts]: ts,
    [LINK_HEADER.nonce]: nonce,
    [LINK_HEADER.meta]: metaText,
    [LINK_HEADER.sig]: mac(secret, fleetId, from, ts, nonce, metaText, body).toString('base64url')
  }
}

/** Outcome of {@link LinkVerifier.verify}. */
export type LinkVerdict = { ok: true, from: string, meta: LinkMeta } | { ok: false, why: string }

function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return typeof v === 'string' ? v : undefined
}

function parseMeta (text: string): LinkMeta | undefined {
  try {
    const m = JSON.parse(text) as Partial<LinkMeta>
    if (typeof m.w !== 'string' || m.w === '' || (m.k !== 'call' && m.k !== 'stream') || typeof m.to !== 'number' || !Number.isSafeInteger(m.to) || m.to < 1) return undefined
    const out: LinkMeta = { w: m.w, k: m.k, to: m.to }
    if (typeof m.s === 'string') out.s = m.s
    if (typeof m.ti === 'string') out.ti = m.ti
    return out
  } catch {
    return undefined
  }
}

/** Verifies calls on the receiving side; remembers nonces for the clock window. */
export class LinkVerifier {
  readonly #secret: string
  readonly #fleetId: string
  /** nonce → Date.now() after which it may be forgotten (insertion order ≈ time order). */
  readonly #nonces = new Map<string, number>()

  constructor (secret: string, fleetId: string) {
    this.#secret = secret
    this.#fleetId = fleetId
  }

  /** Checks signature, clock and nonce of one call with `body`. */
  verify (headers: IncomingHttpHeaders, body: Uint8Array): LinkVerdict {
    const from = header(headers, LINK_HEADER.from)
    const ts = header(headers, LINK_HEADER.ts)
    const nonce = header(headers, LINK_HEADER.nonce)
    const metaText = header(headers, LINK_HEADER.meta)
    const sig = header(headers, LINK_HEADER.sig)
    if (from === undefined || ts === undefined || nonce === undefined || metaText === undefined || sig === undefined) return { ok: false, why: 'missing link headers' }
    const expected = mac(this.#secret, this.#fleetId, from, ts, nonce, metaText, body)
    const given = Buffer.from(sig, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, why: 'bad signature' }
    const now = Date.now()
    const sent = Number(ts)
    if (!Number.isFinite(sent) || Math.abs(now - sent) > LINK_CLOCK_WINDOW_MS) return { ok: false, why: 'timestamp outside the clock window' }
    const meta = parseMeta(metaText)
    if (meta === undefined) return { ok: false, why: 'bad metadata' }
    this.#prune(now)
    if (this.#nonces.has(nonce)) return { ok: false, why: 'nonce replayed' }
    if (this.#nonces.size >= MAX_NONCES) return { ok: false, why: 'nonce table full' }
    this.#nonces.set(nonce, sent + LINK_CLOCK_WINDOW_MS)
    return { ok: true, from, meta }
  }

  #prune (now: number): void {
    for (const [nonce, until] of this.#nonces) {
      if (until > now) break
      this.#nonces.delete(nonce)
    }
  }
}
