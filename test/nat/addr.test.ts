import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isToolkitError } from '../../src/errors.ts'
import { formatHostPort, parseHostPort, urlHost } from '../../src/host-port.ts'
import { canonicalIp, classifyIp, isCarrierGradeNat, isGlobalIPv6, isPrivateIPv4, isPublicIPv4, parseIp, sameIp, tryParseIp } from '../../nat/net/addr.ts'

describe('nat/addr: strict parsing', () => {
  it('rejects loose IPv4 forms that ipaddr.js alone would accept', () => {
    for (const bad of ['1.2.3', '0x7f.1', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.4.5', '127.1', '', 'localhost', '1.2.3.4%eth0']) {
      assert.throws(() => parseIp(bad), (err: unknown) => isToolkitError(err, 'ERR_INVALID_ADDRESS'), bad)
      assert.equal(tryParseIp(bad), undefined, bad)
    }
  })

  it('canonicalises IPv6 (RFC 5952) and unwraps IPv4-mapped addresses', () => {
    assert.deepEqual(parseIp('2001:DB8:0:0:0:0:0:1'), { address: '2001:db8::1', family: 6, range: 'documentation' })
    assert.deepEqual(parseIp('::ffff:100.64.1.2'), { address: '100.64.1.2', family: 4, range: 'carrierGradeNat', mapped: true })
    assert.deepEqual(parseIp('::FFFF:0a00:0001'), { address: '10.0.0.1', family: 4, range: 'private', mapped: true })
    assert.deepEqual(parseIp('fe80::1%eth0'), { address: 'fe80::1', family: 6, range: 'linkLocal', zone: 'eth0' })
    assert.throws(() => parseIp('fe80::1%bad zone'), /zone/)
  })

  it('classifies IPv4 ranges', () => {
    const table: Array<[string, string]> = [
      ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'global'],
      ['192.168.1.1', 'private'], ['100.64.0.1', 'carrierGradeNat'], ['100.127.255.255', 'carrierGradeNat'], ['100.128.0.1', 'global'],
      ['127.0.0.1', 'loopback'], ['169.254.1.1', 'linkLocal'], ['0.0.0.0', 'unspecified'], ['255.255.255.255', 'broadcast'],
      ['224.0.0.251', 'multicast'], ['239.255.255.250', 'multicast'], ['192.0.2.1', 'documentation'], ['198.51.100.7', 'documentation'],
      ['203.0.113.5', 'documentation'], ['198.18.0.1', 'benchmarking'], ['198.19.255.1', 'benchmarking'], ['240.0.0.1', 'reserved'],
      ['192.0.0.8', 'reserved'], ['8.8.8.8', 'global'], ['11.0.0.10', 'global']
    ]
    for (const [ip, range] of table) assert.equal(classifyIp(ip), range, ip)
  })

  it('classifies IPv6 ranges; global unicast excludes documentation, 6to4, Teredo', () => {
    const table: Array<[string, string]> = [
      ['::', 'unspecified'], ['::1', 'loopback'], ['fe80::1', 'linkLocal'], ['fd00::2', 'uniqueLocal'], ['fc12::1', 'uniqueLocal'],
      ['ff02::c', 'multicast'], ['2001:db8::1', 'documentation'], ['3fff::1', 'documentation'], ['2002:c000:204::1', '6to4'],
      ['2001:0:4136:e378::1', 'teredo'], ['2001:2::1', 'benchmarking'], ['2001:20::1', 'orchid'], ['64:ff9b::8.8.8.8', 'nat64'],
      ['100::1', 'discard'], ['2a00:12::2', 'global'], ['2606:4700::1111', 'global'], ['4000::1', 'reserved'], ['fec0::1', 'reserved']
    ]
    for (const [ip, range] of table) assert.equal(classifyIp(ip), range, ip)
  })

  it('answers the predicates strictly (garbage is never public)', () => {
    assert.equal(isPublicIPv4('8.8.8.8'), true)
    assert.equal(isPublicIPv4('100.64.0.1'), false)
    assert.equal(isPublicIPv4('192.168.1.1'), false)
    assert.equal(isPublicIPv4('0x8.8.8.8'), false)
    assert.equal(isPublicIPv4('2a00:12::2'), false)
    assert.equal(isPublicIPv4(undefined), false)
    assert.equal(isGlobalIPv6('2a00:12::2'), true)
    assert.equal(isGlobalIPv6('2002::1'), false)
    assert.equal(isGlobalIPv6('2001:db8::1'), false)
    assert.equal(isGlobalIPv6('fd00::2'), false)
    assert.equal(isPrivateIPv4('::ffff:192.168.0.1'), true)
    assert.equal(isCarrierGradeNat('100.100.1.1'), true)
    assert.equal(isCarrierGradeNat('100.1.1.1'), false)
    assert.equal(sameIp('::ffff:1.2.3.4', '1.2.3.4'), true)
    assert.equal(sameIp('2001:DB8::1', '2001:db8:0::1'), true)
    assert.equal(sameIp('garbage', 'garbage'), false)
    assert.equal(canonicalIp('2001:0DB8::0001'), '2001:db8::1')
  })
})

describe('nat/addr: host:port', () => {
  it('parses IPv4, bracketed IPv6, bare IPv6 and names', () => {
    assert.deepEqual(parseHostPort('127.0.0.2:3478'), { host: '127.0.0.2', port: 3478, family: 4 })
    assert.deepEqual(parseHostPort('[2001:DB8::1]:3478'), { host: '2001:db8::1', port: 3478, family: 6 })
    assert.deepEqual(parseHostPort('[::1]', { defaultPort: 3478 }), { host: '::1', port: 3478, family: 6 })
    assert.deepEqual(parseHostPort('::1', { defaultPort: 1 }), { host: '::1', port: 1, family: 6 })
    assert.deepEqual(parseHostPort('STUN.Example.org:19302'), { host: 'stun.example.org', port: 19302 })
    assert.deepEqual(parseHostPort('stun.example.org', { defaultPort: 3478 }), { host: 'stun.example.org', port: 3478 })
    assert.deepEqual(parseHostPort('1.2.3.4:0', { allowZeroPort: true }), { host: '1.2.3.4', port: 0, family: 4 })
  })

  it('rejects malformed input with ERR_INVALID_ADDRESS', () => {
    const bad = ['', '1.2.3.4', '1.2.3.4:', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:123456', '[1.2.3.4]:80', '[::1', '::1]:80',
      'a..b:1', '-bad.example:1', 'bad_name:1', '1.2.3:80', '0x7f.1:80', 'host:port', 'a:b:c']
    for (const b of bad) assert.throws(() => parseHostPort(b), (err: unknown) => isToolkitError(err, 'ERR_INVALID_ADDRESS'), b)
    assert.throws(() => parseHostPort('stun.example.org:1', { allowNames: false }), /not an IP address/)
  })

  it('formats host:port and extracts URL hosts', () => {
    assert.equal(formatHostPort('2001:db8::1', 80), '[2001:db8::1]:80')
    assert.equal(formatHostPort('1.2.3.4', 80), '1.2.3.4:80')
    assert.equal(urlHost('http://[2a00::1]:9484/x'), '2a00::1')
    assert.equal(urlHost('https://relay.example/'), 'relay.example')
    assert.equal(urlHost('not a url'), undefined)
  })
})
