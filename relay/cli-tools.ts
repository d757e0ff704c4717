/**
 * `iicp-relay keygen` and `iicp-relay ticket`: an Ed25519 key pair and bind tickets signed
 * with it, so an operator can run and smoke-test strict mode without a directory (the
 * directory signs tickets with its own key in production).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { intFlag, parseFlags, stringFlag, usageError, type FlagSpec } from '../src/cli/args.ts'
import { BIND_TICKET_TYPE, bindTicketPublicKeyFromSeed, signBindTicket } from '../src/protocol/bind-ticket.ts'
import { BIND_TICKET_CLOCK_SKEW_S, BIND_TICKET_LIFETIME_S } from '../src/limits.ts'

/** Default lifetime of a ticket from `iicp-relay ticket`, in seconds: the directory's. */
const DEFAULT_TICKET_TTL_S = BIND_TICKET_LIFETIME_S
/** Longest lifetime a relay accepts (the directory's plus the clock skew it tolerates). */
const MAX_TICKET_TTL_S = BIND_TICKET_LIFETIME_S + BIND_TICKET_CLOCK_SKEW_S
/** Issuer put in tickets signed here (the relay does not check `iss`). */
const TICKET_ISSUER = 'iicp-relay-ticket'

const KEYGEN_SYNOPSIS = 'Usage: iicp-relay keygen\n\nPrints a new Ed25519 key pair as shell assignments: PUBLIC_KEY (give it to the relay as\n--ticket-public-key) and PRIVATE_KEY (the seed that signs tickets: iicp-relay ticket --key; keep it secret).'

const TICKET_SYNOPSIS = 'Usage: iicp-relay ticket --key HEX --worker-id ID [--aud ID] [--ttl SECONDS]\n\nPrints a bind ticket for one bind of --worker-id, signed with a key from iicp-relay keygen.'

const TICKET_FLAGS: FlagSpec[] = [
  { name: 'key', type: 'string', env: 'IICP_TICKET_PRIVATE_KEY', valueName: 'HEX', description: 'private key (64 hex seed) from iicp-relay keygen' },
  { name: 'worker-id', type: 'string', valueName: 'ID', description: 'the worker id the ticket is for (its sub)' },
  { name: 'aud', type: 'string', valueName: 'ID', description: 'the relay\'s node id, or "*" for any relay (default "*")' },
  { name: 'ttl', type: 'string', valueName: 'SECONDS', description: `lifetime (default ${DEFAULT_TICKET_TTL_S}, at most ${MAX_TICKET_TTL_S}: relays refuse longer)` }
]

/** `iicp-relay keygen`: prints `PUBLIC_KEY=…` and `PRIVATE_KEY=…`; returns the exit code. */
export function keygenMain (argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): number {
  if (parseFlags('iicp-relay keygen', KEYGEN_SYNOPSIS, [], argv, env) === undefined) return 0
  const der = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' })
  const seed = der.subarray(der.length - 32).toString('hex')
  out.write(`PUBLIC_KEY=${bindTicketPublicKeyFromSeed(seed)}\nPRIVATE_KEY=${seed}\n`)
  return 0
}

/** `iicp-relay ticket`: prints one signed bind ticket; returns the exit code. */
export function ticketMain (argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): number {
  const values = parseFlags('iicp-relay ticket', TICKET_SYNOPSIS, TICKET_FLAGS, argv, env)
  if (values === undefined) return 0
  const key = stringFlag(values, 'key')
  if (key === undefined || !/^[0-9a-fA-F]{64}$/.test(key)) throw usageError('--key must be the 64-hex PRIVATE_KEY from iicp-relay keygen')
  const workerId = stringFlag(values, 'worker-id')
  if (workerId === undefined || workerId === '') throw usageError('--worker-id is required')
  const aud = stringFlag(values, 'aud') ?? '*'
  if (aud === '') throw usageError('--aud must not be empty (use "*" for any relay)')
  const ttl = intFlag(values, 'ttl', DEFAULT_TICKET_TTL_S, 1, MAX_TICKET_TTL_S)
  const now = Math.floor(Date.now() / 1000)
  const ticket = signBindTicket({
    v: 1,
    typ: BIND_TICKET_TYPE,
    jti: randomBytes(16).toString('hex'),
    iss: TICKET_ISSUER,
    sub: workerId,
    aud,
    iat: now,
    exp: now + ttl
  }, key.toLowerCase())
  out.write(`${ticket}\n`)
  return 0
}
