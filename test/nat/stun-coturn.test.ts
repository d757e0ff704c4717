/**
 * Interoperability with coturn 4.6 on loopback, both ways: coturn's RFC 5780 clients against our
 * server, and our client and discovery against coturn's `turnserver --stun-only`.
 * Skipped with a message when the binaries are missing.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createStunServer, discoverNatBehavior, stunBinding, type StunServer, type StunServerInfo } from '../../nat/stun/index.ts'
import { findBinary, runTool, startCoturn } from '../helpers/stun-coturn.ts'
import { assertNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'

const natdiscovery = findBinary('turnutils_natdiscovery')
const stunclient = findBinary('turnutils_stunclient')
const turnserver = findBinary('turnserver')

const missing = (name: string): string => `${name} not installed (Debian package coturn); interop not checked`

let baseline: Record<string, number>
before(() => { baseline = handleCounts() })
after(async () => { await assertNoLeakedHandles(baseline) })

describe('coturn clients against our server (127.0.0.2 + 127.0.0.3)', () => {
  let server: StunServer
  let info: StunServerInfo
  before(async () => {
    server = createStunServer({ primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.3', port: 0 } })
    info = await server.listen()
  })
  after(async () => { await server.close() })

  it('turnutils_natdiscovery -m -f reports endpoint-independent mapping and filtering', { skip: natdiscovery === undefined ? missing('turnutils_natdiscovery') : false }, async () => {
    const { code, output, timedOut } = await runTool(natdiscovery as string, ['-m', '-f', '-p', String(info.primary.port), '127.0.0.2'])
    assert.equal(timedOut, false, output)
    assert.equal(code, 0, output)
    assert.match(output, /NAT with Endpoint Independent Mapping!/)
    assert.match(output, /NAT with Endpoint Independent Filtering!/)
    assert.match(output, new RegExp(`Other addr: : 127\\.0\\.0\\.3:${info.alternate?.port}`))
    assert.match(output, /No ALG: Mapped == XOR-Mapped/)
  })

  it('turnutils_natdiscovery -H sees hairpinning and -P padding is accepted', { skip: natdiscovery === undefined ? missing('turnutils_natdiscovery') : false }, async () => {
    const hairpin = await runTool(natdiscovery as string, ['-H', '-p', String(info.primary.port), '127.0.0.2'])
    assert.match(hairpin.output, /Received a request \(maybe a successful hairpinning\)/, hairpin.output)
    const padded = await runTool(natdiscovery as string, ['-m', '-P', '-p', String(info.primary.port), '127.0.0.2'])
    assert.match(padded.output, /NAT with Endpoint Independent Mapping!/, padded.output)
  })

  it('turnutils_stunclient prints our reflexive address, RESPONSE-ORIGIN and OTHER-ADDRESS', { skip: stunclient === undefined ? missing('turnutils_stunclient') : false }, async () => {
    const { code, output } = await runTool(stunclient as string, ['-p', String(info.primary.port), '127.0.0.2'])
    assert.equal(code, 0, output)
    assert.match(output, /UDP reflexive addr: 127\.0\.0\.1:\d+/)
    assert.match(output, new RegExp(`Response origin: : 127\\.0\\.0\\.2:${info.primary.port}`))
    assert.match(output, new RegExp(`Other addr: : 127\\.0\\.0\\.3:${info.alternate?.port}`))
  })
})

describe('our client against coturn turnserver --stun-only', { skip: turnserver === undefined ? missing('turnserver') : false }, () => {
  it('a Binding transaction and RFC 5780 discovery (no NAT, endpoint-independent filtering)', async () => {
    const coturn = await startCoturn(turnserver as string)
    try {
      const binding = await stunBinding({ server: { address: '127.0.0.2', port: coturn.port }, localAddress: '127.0.0.1' })
      assert.deepEqual(binding.mapped, { family: 4, address: '127.0.0.1', port: binding.local.port })
      assert.deepEqual(binding.otherAddress, { family: 4, address: '127.0.0.3', port: coturn.port + 1 })
      assert.equal(binding.response.hasFingerprint, true, 'coturn sends FINGERPRINT; our parser checked it')
      assert.match(binding.software ?? '', /Coturn/)
      const changed = await stunBinding({ server: { address: '127.0.0.2', port: coturn.port }, changeRequest: { changeIp: true, changePort: true }, acceptFrom: 'any' })
      assert.deepEqual(changed.source, { address: '127.0.0.3', port: coturn.port + 1 })

      const result = await discoverNatBehavior({ servers: [{ host: '127.0.0.2', port: coturn.port }] })
      assert.equal(result.udpBlocked, false, JSON.stringify(result))
      assert.equal(result.method, 'rfc5780')
      assert.equal(result.mapping, 'none')
      assert.equal(result.filtering, 'endpoint_independent', result.notes.join('; '))
      assert.equal(result.hairpinning, true)
      assert.deepEqual(result.otherAddress, { address: '127.0.0.3', port: coturn.port + 1 })
    } finally {
      await coturn.stop()
    }
  })
})
