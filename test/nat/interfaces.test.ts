import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { NetworkInterfaceInfo } from 'node:os'
import {
  decodeIpv6Flags, isEui64, listLocalAddresses, parseDefaultGatewayV4, parseIfInet6, publicOnInterface,
  rankServingIpv6, sourceAddressToward
} from '../../nat/net/interfaces.ts'

// A /proc/net/if_inet6 as Linux prints it: addr, ifindex, prefixlen, scope, flags, name (hex).
const IF_INET6 = [
  '00000000000000000000000000000001 01 80 10 80       lo',
  'fe80000000000000021122fffe334455 02 40 20 80     eth0',
  '2a001200000000000211 22fffe334455 02 40 00 00     eth0', // malformed: skipped
  '2a001200000000000211 22fffe334455',
  '2a001200000000000211' + '22fffe334455' + ' 02 40 00 00     eth0',
  '2a00120000000000a1b2c3d4e5f60718 02 40 00 01     eth0',
  '2a00120000000000a1b2c3d4e5f60719 02 40 00 21     eth0',
  '2a00120000000000000000000000beef 02 40 00 80     eth0',
  '2a00120000000000c0ffee00c0ffee00 02 40 00 800     eth0',
  'fd000000000000000000000000000002 02 40 00 82     eth0'
].join('\n')

function nic (address: string, family: 'IPv4' | 'IPv6', cidr: string, internal = false): NetworkInterfaceInfo {
  return family === 'IPv4'
    ? { address, family, cidr, internal, mac: '00:11:22:33:44:55', netmask: '255.255.255.0' }
    : { address, family, cidr, internal, mac: '00:11:22:33:44:55', netmask: 'ffff:ffff:ffff:ffff::', scopeid: 0 }
}

const NICS = {
  lo: [nic('127.0.0.1', 'IPv4', '127.0.0.1/8', true), nic('::1', 'IPv6', '::1/128', true)],
  eth0: [
    nic('192.168.1.2', 'IPv4', '192.168.1.2/24'),
    nic('203.0.113.80', 'IPv4', '203.0.113.80/24'),
    nic('8.8.4.4', 'IPv4', '8.8.4.4/32'),
    nic('2a00:1200::211:22ff:fe33:4455', 'IPv6', '2a00:1200::211:22ff:fe33:4455/64'),
    nic('2a00:1200::a1b2:c3d4:e5f6:718', 'IPv6', '2a00:1200::a1b2:c3d4:e5f6:718/64'),
    nic('2a00:1200::a1b2:c3d4:e5f6:719', 'IPv6', '2a00:1200::a1b2:c3d4:e5f6:719/64'),
    nic('2a00:1200::beef', 'IPv6', '2a00:1200::beef/64'),
    nic('2a00:1200::c0ff:ee00:c0ff:ee00', 'IPv6', '2a00:1200::c0ff:ee00:c0ff:ee00/64'),
    nic('fd00::2', 'IPv6', 'fd00::2/64'),
    nic('fe80::211:22ff:fe33:4455', 'IPv6', 'fe80::211:22ff:fe33:4455/64')
  ]
}

describe('nat/interfaces', () => {
  it('decodes the kernel IFA_F_* flags', () => {
    assert.deepEqual(decodeIpv6Flags(0x80), { temporary: false, deprecated: false, permanent: true, tentative: false, dadFailed: false, stablePrivacy: false, raw: 0x80 })
    const f = decodeIpv6Flags(0x21)
    assert.equal(f.temporary, true)
    assert.equal(f.deprecated, true)
    assert.equal(decodeIpv6Flags(0x800).stablePrivacy, true)
    assert.equal(decodeIpv6Flags(0x40).tentative, true)
    assert.equal(decodeIpv6Flags(0x08).dadFailed, true)
  })

  it('parses /proc/net/if_inet6 and skips malformed lines', () => {
    const rows = parseIfInet6(IF_INET6)
    assert.equal(rows.length, 8)
    const temp = rows.find(r => r.address === '2a00:1200::a1b2:c3d4:e5f6:718')
    assert.equal(temp?.flags.temporary, true)
    assert.equal(temp?.prefixLength, 64)
    assert.equal(temp?.interface, 'eth0')
    assert.equal(rows.find(r => r.address === '::1')?.flags.permanent, true)
  })

  it('detects EUI-64 interface identifiers bit-exactly', () => {
    assert.equal(isEui64('2a00:1200::211:22ff:fe33:4455'), true)
    assert.equal(isEui64('fe80::fc:ff:fe00:1'), true)
    assert.equal(isEui64('2a00:1200::a1b2:c3d4:e5f6:718'), false)
    assert.equal(isEui64('2a00::ff:fe00:0:1'), false) // ff:fe present as text, but not in bytes 11-12
    assert.equal(isEui64('10.0.0.1'), false)
  })

  it('lists addresses with ranges, flags and the EUI-64 marker from injected sources', () => {
    const list = listLocalAddresses({ networkInterfaces: () => NICS, readIfInet6: () => IF_INET6 })
    const eui = list.find(a => a.address === '2a00:1200::211:22ff:fe33:4455')
    assert.equal(eui?.eui64, true)
    assert.equal(eui?.range, 'global')
    assert.equal(list.find(a => a.address === '192.168.1.2')?.prefixLength, 24)
    assert.equal(list.find(a => a.address === '2a00:1200::beef')?.flags?.permanent, true)
    assert.equal(list.find(a => a.address === '::1')?.internal, true)
  })

  it('works without /proc (flags absent)', () => {
    const list = listLocalAddresses({ networkInterfaces: () => NICS, readIfInet6: () => undefined })
    assert.equal(list.find(a => a.address === '2a00:1200::beef')?.flags, undefined)
  })

  it('finds public addresses on interfaces and ranks IPv6 for serving', () => {
    const list = listLocalAddresses({ networkInterfaces: () => NICS, readIfInet6: () => IF_INET6 })
    const pub = publicOnInterface(list)
    assert.deepEqual(pub.ipv4, ['8.8.4.4']) // 203.0.113.80 is documentation space
    assert.equal(pub.ipv6.includes('2a00:1200::a1b2:c3d4:e5f6:719'), false, 'deprecated excluded')
    assert.equal(pub.ipv6.includes('fd00::2'), false)
    const ranked = rankServingIpv6(list).map(a => a.address)
    assert.deepEqual(ranked, [
      '2a00:1200::211:22ff:fe33:4455', // stable EUI-64
      '2a00:1200::beef', // permanent
      '2a00:1200::c0ff:ee00:c0ff:ee00', // stable-privacy
      '2a00:1200::a1b2:c3d4:e5f6:718' // temporary last
    ])
  })

  it('parses the IPv4 default gateway from /proc/net/route', () => {
    const route = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'wlan0\t00000000\t0100000A\t0003\t0\t0\t50\t00000000\t0\t0\t0',
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0'
    ].join('\n')
    assert.deepEqual(parseDefaultGatewayV4(route), { address: '10.0.0.1', interface: 'wlan0' })
    assert.equal(parseDefaultGatewayV4('Iface\tDestination\n'), undefined)
  })

  it('finds the source address toward a loopback host without sending', async () => {
    assert.equal(await sourceAddressToward('127.0.0.2'), '127.0.0.1')
    assert.equal(await sourceAddressToward('::1'), '::1')
    await assert.rejects(sourceAddressToward('example.org'), /IP literal/)
  })
})
