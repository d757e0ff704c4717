/**
 * Bind tickets (spec §3.3): the deterministic vector, signing, and every rejection reason of
 * checklist 11, with Rust-strict parsing (exact claim types, unpadded canonical base64url).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sign, createPrivateKey } from 'node:crypto'
import {
  BIND_TICKET_SIGNING_PREFIX, bindTicketPublicKeyFromSeed, signBindTicket, verifyBindTicket, type BindTicketClaims
} from '../../src/protocol/bind-ticket.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { relayVectors } from '../helpers/fixtures.ts'

const V = relayVectors.bind_ticket
const KEY = V.public_key_hex
const NOW = 1000
const BASE: BindTicketClaims = { v: 1, typ: 'relay-bind-ticket', jti: 'a'.repeat(32), iss: 'dir', sub: 'w1', aud: '*', iat: 1, exp: NOW + 60 }

function check (token: string, over: { workerId?: string, audience?: string, nowSeconds?: number } = {}): ReturnType<typeof verifyBindTicket> {
  return verifyBindTicket(token, { publicKeyHex: KEY, workerId: 'w1', audience: 'relay-1', nowSeconds: NOW, ...over })
}

function tokenWith (claims: Record<string, unknown>): string {
  return signBindTicket(claims as unknown as BindTicketClaims, V.ed25519_seed_hex)
}

/** Signs an arbitrary payload text (to build malformed payloads with valid signatures). */
function signRaw (payloadText: string): string {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(V.ed25519_seed_hex, 'hex')])
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  return `${payloadText}.${sign(null, Buffer.from(BIND_TICKET_SIGNING_PREFIX + payloadText), key).toString('hex')}`
}

describe('bind ticket vector', () => {
  it('the fixture ticket verifies at now=100 and fails (expired) at now=1,000,000', () => {
    for (const e of V.expect) {
      const r = verifyBindTicket(V.token, { publicKeyHex: KEY, workerId: e.sub, audience: e.aud, nowSeconds: e.now })
      assert.equal(r.ok, e.valid, `now=${e.now}`)
      if (!r.ok) assert.equal(r.reason, 'expired')
      else assert.deepEqual(r.claims, JSON.parse(V.claims_json))
    }
  })

  it('signBindTicket reproduces the fixture token byte for byte, and the seed gives the fixture key', () => {
    assert.equal(signBindTicket(JSON.parse(V.claims_json) as BindTicketClaims, V.ed25519_seed_hex), V.token)
    assert.equal(bindTicketPublicKeyFromSeed(V.ed25519_seed_hex), KEY)
  })

  it('the signature part is accepted in upper case hex (as Rust\'s hex crate does)', () => {
    const [payload, sig] = V.token.split('.') as [string, string]
    const r = verifyBindTicket(`${payload}.${sig.toUpperCase()}`, { publicKeyHex: KEY, workerId: 'worker-1', audience: 'relay-1', nowSeconds: 100 })
    assert.equal(r.ok, true)
  })
})

describe('bind ticket rejections', () => {
  it('accepts aud "*" and aud = audience', () => {
    assert.equal(check(tokenWith({ ...BASE })).ok, true)
    assert.equal(check(tokenWith({ ...BASE, aud: 'relay-1' })).ok, true)
  })

  const cases: Array<[string, () => string, string, { workerId?: string, audience?: string, nowSeconds?: number }?]> = [
    ['wrong sub', () => tokenWith({ ...BASE, sub: 'w2' }), 'wrong_sub'],
    ['wrong aud', () => tokenWith({ ...BASE, aud: 'relay-2' }), 'wrong_aud'],
    ['exp == now', () => tokenWith({ ...BASE, exp: NOW }), 'expired'],
    ['exp < now', () => tokenWith({ ...BASE, exp: NOW - 1 }), 'expired'],
    ['uppercase jti', () => tokenWith({ ...BASE, jti: 'A'.repeat(32) }), 'bad_jti'],
    ['short jti', () => tokenWith({ ...BASE, jti: 'a'.repeat(31) }), 'bad_jti'],
    ['long jti', () => tokenWith({ ...BASE, jti: 'a'.repeat(33) }), 'bad_jti'],
    ['non-hex jti', () => tokenWith({ ...BASE, jti: 'g'.repeat(32) }), 'bad_jti'],
    ['wrong typ', () => tokenWith({ ...BASE, typ: 'relay-bind' }), 'wrong_typ'],
    ['bad signature', () => { const t = tokenWith({ ...BASE }); return t.slice(0, -2) + (t.endsWith('00') ? '11' : '00') }, 'bad_signature'],
    ['signed by another key', () => signBindTicket(BASE, '08'.repeat(32)), 'bad_signature'],
    ['signature of 127 hex', () => tokenWith({ ...BASE }).slice(0, -1), 'malformed'],
    ['signature of 129 hex', () => `${tokenWith({ ...BASE })}0`, 'malformed'],
    ['non-hex signature', () => { const t = tokenWith({ ...BASE }); return `${t.slice(0, -1)}z` }, 'malformed'],
    ['no dot', () => tokenWith({ ...BASE }).replace('.', ''), 'malformed'],
    ['empty payload', () => `.${'0'.repeat(128)}`, 'malformed'],
    ['padded base64', () => {
      const text = Buffer.from(JSON.stringify({ ...BASE, iss: 'dirx' })).toString('base64url')
      assert.notEqual(text.length % 4, 0, 'the test payload needs padding')
      return signRaw(text + '='.repeat(4 - (text.length % 4)))
    }, 'bad_payload'],
    ['standard base64 characters', () => signRaw(Buffer.from(JSON.stringify({ ...BASE, iss: '>>>?' })).toString('base64')), 'bad_payload'],
    ['non-canonical trailing bits', () => {
      const text = Buffer.from(JSON.stringify(BASE)).toString('base64url')
      const last = text.at(-1) ?? 'A'
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      return signRaw(text.slice(0, -1) + alphabet[(alphabet.indexOf(last) + 1) % 64])
    }, 'bad_payload'],
    ['payload not JSON', () => signRaw(Buffer.from('not json').toString('base64url')), 'bad_payload'],
    ['payload not UTF-8', () => signRaw(Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')), 'bad_payload'],
    ['payload a JSON array', () => signRaw(Buffer.from('[1]').toString('base64url')), 'bad_claims'],
    ['missing iss', () => { const { iss: _iss, ...rest } = BASE; return tokenWith(rest) }, 'bad_claims'],
    ['missing iat', () => { const { iat: _iat, ...rest } = BASE; return tokenWith(rest) }, 'bad_claims'],
    ['exp as a numeric string', () => tokenWith({ ...BASE, exp: String(NOW + 60) }), 'bad_claims'],
    ['exp fractional', () => tokenWith({ ...BASE, exp: NOW + 0.5 }), 'bad_claims'],
    ['v = 2', () => tokenWith({ ...BASE, v: 2 }), 'bad_claims'],
    ['sub as a number', () => tokenWith({ ...BASE, sub: 1 }), 'bad_claims']
  ]
  for (const [name, make, reason, over] of cases) {
    it(`rejects ${name} (${reason})`, () => {
      const r = check(make(), over)
      assert.deepEqual(r, { ok: false, reason })
    })
  }

  it('a malformed public key is a configuration error', () => {
    assert.throws(() => verifyBindTicket(V.token, { publicKeyHex: 'abcd', workerId: 'w', audience: '*', nowSeconds: 0 }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    assert.throws(() => signBindTicket(BASE, 'zz'), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
  })
})
