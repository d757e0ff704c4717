/** The fleet flags of `iicp-relay`: a fleet is either fully configured or absent (usage errors, exit 2). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { relayMain } from '../../relay/cli.ts'

const SECRET = 'a-fleet-secret-of-some-length'

async function usage (argv: string[]): Promise<string> {
  try {
    await relayMain(['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', ...argv], {}, { stop: AbortSignal.abort() })
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'ERR_USAGE')
    return (err as Error).message
  }
  assert.fail('expected a usage error')
}

describe('iicp-relay fleet flags', () => {
  it('refuses fleet flags without --redis, --redis without a secret, a short secret, a bad policy, a wildcard listener without a URL', async () => {
    assert.match(await usage(['--fleet-secret', SECRET]), /--fleet-secret needs --redis/)
    assert.match(await usage(['--redis', 'redis://127.0.0.1:1']), /needs --fleet-secret/)
    assert.match(await usage(['--redis', 'redis://127.0.0.1:1', '--fleet-secret', 'short']), /at least 16 characters/)
    assert.match(await usage(['--redis', 'redis://127.0.0.1:1', '--fleet-secret', SECRET, '--fleet-unavailable-binds', 'maybe']), /accept or refuse/)
    assert.match(await usage(['--redis', 'redis://127.0.0.1:1', '--fleet-secret', SECRET, '--fleet-listen', '0.0.0.0:0']), /needs --fleet-internal-url/)
    assert.match(await usage(['--redis', 'http://127.0.0.1:1', '--fleet-secret', SECRET]), /redis:\/\/ or rediss:\/\//)
  })
})
