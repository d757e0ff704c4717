/**
 * The shipped host firewall (deploy/nftables-relay.conf, issue 12 finding 11): it parses
 * (`nft -c -f`), loading it twice in a throwaway network namespace leaves each rule once, and
 * the new-connection limit is per source (a dynamic set keyed by address), not global.
 * Root only; skips elsewhere.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { labSkipReason } from '../helpers/lab-env.ts'
import { labPrefix } from '../lab/namespaces.ts'

const RULES = fileURLToPath(new URL('../../deploy/nftables-relay.conf', import.meta.url))
const skip = labSkipReason(['ip', 'nft'])

/** Runs nft inside `ns`. */
function nft (ns: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', timeout: 5_000 })
}

describe('deploy/nftables-relay.conf', { skip }, () => {
  it('checks, and loads twice without duplicating a rule', t => {
    const ns = `${labPrefix()}fw`
    execFileSync('ip', ['netns', 'add', ns], { timeout: 5_000 })
    t.after(() => { execFileSync('ip', ['netns', 'del', ns], { timeout: 5_000 }) })
    nft(ns, ['-c', '-f', RULES])
    nft(ns, ['-f', RULES])
    const once = nft(ns, ['list', 'ruleset'])
    nft(ns, ['-f', RULES])
    const twice = nft(ns, ['list', 'ruleset'])
    assert.equal(twice, once)
    assert.equal(twice.match(/^table /gm)?.length, 1)
    const rules = twice.split('\n').map(l => l.trim()).filter(l => /^(tcp|ct|iif|meta|udp) /.test(l))
    assert.equal(new Set(rules).size, rules.length, 'every rule once')
    // Per-source limits: the meter updates a dynamic set keyed by the source address (IPv6 by /64).
    assert.match(twice, /update @relay_new_v4 \{ ip saddr limit rate over \d+\/second/)
    assert.match(twice, /update @relay_new_v6 \{ ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over \d+\/second/)
    assert.doesNotMatch(twice, /^\s*tcp dport \{ 9484, 9485 \} ct state new limit rate/m)
  })
})
