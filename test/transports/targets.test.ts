/**
 * Units of the worker's transport selection: what `--relay` names (host:port, iicpsec://,
 * wss://, https://), the `auto` list, NO_PROXY matching, and the CLI flag errors.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { relayFromFlags } from '../../worker/transports/cli-flags.ts'
import { proxyFor, proxySettingsFromEnv } from '../../worker/transports/proxy.ts'
import { autoTargets, describeTarget, parseRelayTarget } from '../../worker/transports/targets.ts'

describe('relay targets', () => {
  it('parses each transport form', () => {
    assert.deepEqual(parseRelayTarget('relay.example:9000'), { kind: 'tcp', host: 'relay.example', port: 9000 })
    assert.deepEqual(parseRelayTarget('relay.example'), { kind: 'tcp', host: 'relay.example', port: 9485 })
    assert.deepEqual(parseRelayTarget('iicpsec://[::1]:9443'), { kind: 'tls', host: '::1', port: 9443 })
    assert.equal(describeTarget(parseRelayTarget('wss://relay.example')), 'wss://relay.example/v1/relay/ws')
    assert.equal(describeTarget(parseRelayTarget('https://relay.example/')), 'https://relay.example/')
    assert.throws(() => parseRelayTarget('ftp://x'), { code: 'ERR_INVALID_CONFIG' })
  })

  it('auto: TCP first, then WSS and long-poll on 443 (or the base URL\'s port)', () => {
    assert.deepEqual(autoTargets('relay.example').map(describeTarget), ['relay.example:9485', 'wss://relay.example/v1/relay/ws', 'https://relay.example/'])
    assert.deepEqual(autoTargets('https://relay.example:8443', 9000).map(describeTarget), ['relay.example:9000', 'wss://relay.example:8443/v1/relay/ws', 'https://relay.example:8443/'])
    assert.deepEqual(autoTargets('relay.example:7000').map(describeTarget), ['relay.example:7000', 'wss://relay.example/v1/relay/ws', 'https://relay.example/'])
    assert.throws(() => autoTargets('wss://relay.example'), { code: 'ERR_INVALID_CONFIG' })
  })
})

describe('proxy settings', () => {
  const target = new URL('https://relay.corp.example/v1/relay/ws')
  it('reads HTTPS_PROXY/NO_PROXY in either case and honours NO_PROXY suffixes and *', () => {
    const env = proxySettingsFromEnv({ https_proxy: 'proxy.corp:3128', NO_PROXY: '' })
    assert.equal(proxyFor(target, env)?.href, 'http://proxy.corp:3128/')
    assert.equal(proxyFor(target, { httpsProxy: 'http://p:1', noProxy: '.corp.example' }), undefined)
    assert.equal(proxyFor(target, { httpsProxy: 'http://p:1', noProxy: 'corp.example' }), undefined)
    assert.equal(proxyFor(target, { httpsProxy: 'http://p:1', noProxy: '*' }), undefined)
    assert.equal(proxyFor(target, { httpsProxy: 'http://p:1', noProxy: 'other.example' })?.host, 'p:1')
    assert.equal(proxyFor(new URL('http://relay.corp.example'), { httpsProxy: 'http://p:1' }), undefined)
    assert.throws(() => proxyFor(target, { httpsProxy: 'socks5://p:1' }), { code: 'ERR_INVALID_CONFIG' })
  })
})

describe('iicp-worker transport flags', () => {
  it('a plain host:port stays plain TCP; a scheme, --transport or --ca selects a transport', () => {
    assert.equal(relayFromFlags('relay.example:9485', {}, {}).transport, undefined)
    const wss = relayFromFlags('wss://relay.example/v1/relay/ws', {}, { HTTPS_PROXY: 'http://p:3128' })
    assert.deepEqual({ host: wss.host, port: wss.port, proxy: wss.transport?.proxy?.httpsProxy }, { host: 'relay.example', port: 443, proxy: 'http://p:3128' })
    assert.equal(relayFromFlags('https://relay.example', { transport: 'auto' }, {}).transport?.mode, 'auto')
  })

  it('rejects an unknown mode, a mode that contradicts the address, and an unreadable --ca', () => {
    assert.throws(() => relayFromFlags('relay.example', { transport: 'udp' }, {}), { code: 'ERR_USAGE' })
    assert.throws(() => relayFromFlags('wss://relay.example', { transport: 'tls' }, {}), { code: 'ERR_USAGE', message: /does not match/ })
    assert.throws(() => relayFromFlags('relay.example', { ca: '/nonexistent/ca.pem' }, {}), { code: 'ERR_USAGE' })
  })
})
