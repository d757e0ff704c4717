/** Bind tickets for relay tests, signed with the deterministic vector key (seed 32×0x07). */
import { randomBytes } from 'node:crypto'
import { signBindTicket, type BindTicketClaims } from '../../src/protocol/bind-ticket.ts'
import { relayVectors } from './fixtures.ts'

/** The directory key that signs test tickets (64 hex). */
export const TICKET_PUBLIC_KEY = relayVectors.bind_ticket.public_key_hex
/** The matching Ed25519 seed. */
export const TICKET_SEED = relayVectors.bind_ticket.ed25519_seed_hex
/** The fixed clock relays under test use for tickets (Unix ms). */
export const TEST_NOW_MS = 1_700_000_000_000
/** {@link TEST_NOW_MS} in seconds. */
export const TEST_NOW_S = TEST_NOW_MS / 1000

/** A valid ticket for `sub` (aud '*', issued now for the directory's 120 s, fresh jti), with claim overrides. */
export function ticketFor (sub: string, overrides: Partial<Record<keyof BindTicketClaims, unknown>> = {}): string {
  const claims = { v: 1, typ: 'relay-bind-ticket', jti: randomBytes(16).toString('hex'), iss: 'test-dir', sub, aud: '*', iat: TEST_NOW_S, exp: TEST_NOW_S + 120, ...overrides }
  return signBindTicket(claims as BindTicketClaims, TICKET_SEED)
}
