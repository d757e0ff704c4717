/** Loads the JSON fixtures copied from the upstream SDKs into test/fixtures/. */
import { readFileSync } from 'node:fs'

function load<T> (name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T
}

/** One scenario of native-framing-v1.json. */
export interface FramingScenario {
  name: string
  wire_hex: string
  expected: { outcome: 'accept', version: number, message_type: number, flags: number, payload_hex: string, consumed: number } | { outcome: 'reject', reason: string }
}

/** native-framing-v1.json: upstream cross-implementation frame vectors. */
export const framingVectors = load<{ scenarios: FramingScenario[] }>('native-framing-v1.json')

/** relay-vectors.json: relay frames seen on the wire, and a deterministic bind ticket. */
export const relayVectors = load<{
  frames: Array<{ frame: string, wire_hex: string, observed_on_wire_between_upstream_peers: boolean }>
  bind_ticket: { ed25519_seed_hex: string, public_key_hex: string, claims_json: string, token: string, expect: Array<{ now: number, sub: string, aud: string, valid: boolean, why?: string }> }
}>('relay-vectors.json')

/** The relay vector whose name starts with `prefix`, as bytes. */
export function relayFrame (prefix: string): Buffer {
  const v = relayVectors.frames.find(f => f.frame.startsWith(prefix))
  if (v === undefined) throw new Error(`no relay vector starting with ${prefix}`)
  return Buffer.from(v.wire_hex, 'hex')
}
