/** Loads the RFC 5769 STUN test vectors stored as commented hex in test/fixtures/rfc5769-*.hex. */
import { readFileSync } from 'node:fs'

/** The short-term password of the RFC 5769 §2.1–2.3 vectors. */
export const RFC5769_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt'

/** Reads `test/fixtures/<name>` ('#' lines are comments; whitespace is ignored) as bytes. */
export function loadStunHex (name: string): Buffer {
  const text = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')
  const hex = text.split('\n').filter(line => !line.trimStart().startsWith('#')).join('').replace(/\s+/g, '')
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) throw new Error(`${name}: not hex`)
  return Buffer.from(hex, 'hex')
}

/** The three RFC 5769 vectors used by the codec tests. */
export const rfc5769 = {
  request: loadStunHex('rfc5769-sample-request.hex'),
  ipv4Response: loadStunHex('rfc5769-ipv4-response.hex'),
  ipv6Response: loadStunHex('rfc5769-ipv6-response.hex')
}
