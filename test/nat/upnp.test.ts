/**
 * UPnP-IGD client against a loopback fake IGD (SSDP unicast + SOAP), and the XML reader.
 * Never multicast: every discovery here names its loopback target explicitly.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { discoverGateways, mapPort, openPinhole } from '../../nat/index.ts'
import { createUpnpGateway, fetchIgdDescription, parseIgdDescription, upnpErrorCode } from '../../nat/portmap/upnp-igd.ts'
import { parseSsdpResponse, ssdpSearch } from '../../nat/portmap/upnp-ssdp.ts'
import { parseXml } from '../../nat/portmap/upnp-xml.ts'
import { startFakeIgd } from '../helpers/nat-fake-igd.ts'

describe('XML reader', () => {
  it('parses elements, prefixes, attributes, entities, CDATA and comments', () => {
    const root = parseXml('<?xml version="1.0"?><!-- c --><a:root xmlns:a="urn:x" k=\'v&amp;w\'><b>1 &lt; 2 &#x41;&#66;</b><c/><d><![CDATA[<raw>]]></d></a:root>')
    assert.equal(root.local, 'root')
    assert.equal(root.name, 'a:root')
    assert.equal(root.attrs.k, 'v&w')
    assert.equal(root.children[0]?.text, '1 < 2 AB')
    assert.equal(root.children[1]?.local, 'c')
    assert.equal(root.children[2]?.text, '<raw>')
  })

  it('rejects malformed or dangerous documents', () => {
    const bad = [
      '<a><b></a>', '<a>', '<a></a><b></b>', 'text<a/>', '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', '<a>&unknown;</a>',
      '<a b="1" b="2"/>', '<a b=1/>', '<a><!-- open', '<a>&#xFFFFFFF;</a>', ''
    ]
    for (const b of bad) assert.throws(() => parseXml(b), (err: unknown) => (err as { code?: string }).code === 'ERR_PROTOCOL', b)
    assert.throws(() => parseXml('<a>' + '<b>'.repeat(40) + '</b>'.repeat(40) + '</a>'), /deeper/)
    assert.throws(() => parseXml('<a>' + '<b/>'.repeat(50) + '</a>', { maxElements: 10 }), /more than 10 elements/)
    assert.throws(() => parseXml('<a>' + 'x'.repeat(100) + '</a>', { maxChars: 50 }), /larger than/)
  })
})

describe('SSDP response parsing', () => {
  it('accepts a 200 OK with an http LOCATION on an IP literal', () => {
    const r = parseSsdpResponse(Buffer.from('HTTP/1.1 200 OK\r\nST: urn:x\r\nLocation: http://192.168.1.1:5000/rootDesc.xml\r\nUSN: uuid:1\r\nSERVER: s\r\n\r\n'), '192.168.1.1')
    assert.deepEqual(r, { location: 'http://192.168.1.1:5000/rootDesc.xml', st: 'urn:x', usn: 'uuid:1', server: 's', from: '192.168.1.1' })
  })

  it('rejects other statuses, missing headers, names (no DNS), non-http and oversized datagrams', () => {
    const cases = [
      'NOTIFY * HTTP/1.1\r\nST: x\r\nLOCATION: http://1.2.3.4/\r\n\r\n',
      'HTTP/1.1 404 Not Found\r\nST: x\r\nLOCATION: http://1.2.3.4/\r\n\r\n',
      'HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: http://router.lan:5000/\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: https://1.2.3.4/\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: http://1.2.3.4/\r\n' + 'X: y\r\n'.repeat(1000) + '\r\n'
    ]
    for (const c of cases) assert.equal(parseSsdpResponse(Buffer.from(c), '1.2.3.4'), undefined, c.slice(0, 30))
  })
})

describe('UPnP IGD client (loopback fake IGD)', () => {
  it('finds the IGD by SSDP unicast, reads the description, and gets the external address', async () => {
    const igd = await startFakeIgd({ version: 2, externalIp: '203.0.113.7' })
    try {
      const found: string[] = []
      for await (const r of ssdpSearch({ target: { address: '127.0.0.1', port: igd.ssdpPort }, timeoutMs: 300 })) found.push(r.location)
      assert.deepEqual(found, [igd.location])
      assert.ok(igd.searches.includes('urn:schemas-upnp-org:device:InternetGatewayDevice:2'))
      const d = await fetchIgdDescription(igd.location)
      assert.equal(d.deviceType, 'urn:schemas-upnp-org:device:InternetGatewayDevice:2')
      assert.equal(d.friendlyName, 'Fake & Test Router')
      assert.equal(d.wan?.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:2')
      assert.equal(d.wan?.controlUrl, igd.location.replace('/rootDesc.xml', '/ctl/IPConn'))
      assert.equal(d.firewall?.serviceType, 'urn:schemas-upnp-org:service:WANIPv6FirewallControl:1')
      const found2 = await discoverGateways({ gateways: ['127.0.0.1'], ssdpPort: igd.ssdpPort, natPmp: false, ipv6: false, timeoutMs: 1000 })
      assert.ok(found2.upnp !== undefined)
      assert.equal(found2.upnp.info.location, igd.location)
      assert.equal(await found2.upnp.externalIp(), '203.0.113.7')
    } finally {
      await igd.close()
    }
  })

  it('maps with AddPortMapping, reads back the granted lease, renews and deletes with the right protocol', async () => {
    const igd = await startFakeIgd({ maxLease: 30 })
    try {
      const gw = createUpnpGateway(await fetchIgdDescription(igd.location))
      const m = await mapPort({ gateway: gw, internalHost: '192.168.1.2', internalPort: 9484, leaseSeconds: 120 })
      assert.equal(m.externalPort, 9484)
      assert.equal(m.leaseSeconds, 30, 'lease as the IGD holds it')
      assert.equal(m.externalIp, '203.0.113.7')
      assert.deepEqual(igd.mappings.get('TCP/9484'), { externalPort: 9484, protocol: 'TCP', internalPort: 9484, internalClient: '192.168.1.2', lease: 30, description: 'iicp-nat 9484' })
      await m.renew()
      assert.equal(m.renewals, 1)
      assert.equal(await m.close(), undefined)
      assert.equal(igd.mappings.size, 0)
      assert.deepEqual(igd.actions.filter(a => a.endsWith('PortMapping')), ['AddPortMapping', 'AddPortMapping', 'DeletePortMapping'])
    } finally {
      await igd.close()
    }
  })

  it('falls back to AddAnyPortMapping on a conflict (IGDv2) and to a permanent lease on error 725', async () => {
    const igd = await startFakeIgd({ version: 2 })
    try {
      const gw = createUpnpGateway(await fetchIgdDescription(igd.location))
      igd.faults.set('AddPortMapping', { code: 718, once: true })
      const any = await gw.addPortMapping({ internalHost: '192.168.1.2', internalPort: 9484, externalPort: 9484, protocol: 'tcp', leaseSeconds: 60, description: 'x' })
      assert.equal(any.externalPort, 9484)
      assert.ok(igd.actions.includes('AddAnyPortMapping'))
      igd.faults.set('AddPortMapping', { code: 725, once: true })
      const perm = await gw.addPortMapping({ internalHost: '192.168.1.2', internalPort: 9000, externalPort: 9000, protocol: 'udp', leaseSeconds: 60, description: 'x' })
      assert.equal(perm.leaseSeconds, 0)
      assert.equal(igd.mappings.get('UDP/9000')?.lease, 0)
      // Deleting something already gone (714) is not an error.
      await gw.deletePortMapping({ externalPort: 1234, internalPort: 1234, protocol: 'tcp' })
    } finally {
      await igd.close()
    }
  })

  it('surfaces UPnP faults with their code; IGDv1 does not try AddAnyPortMapping', async () => {
    const igd = await startFakeIgd({ version: 1, firewall: false })
    try {
      const d = await fetchIgdDescription(igd.location)
      assert.equal(d.wan?.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:1')
      assert.equal(d.firewall, undefined)
      const gw = createUpnpGateway(d)
      assert.equal(gw.addPinhole, undefined)
      igd.faults.set('AddPortMapping', { code: 718, once: false })
      const err = await gw.addPortMapping({ internalHost: '192.168.1.2', internalPort: 1, externalPort: 1, protocol: 'tcp', leaseSeconds: 60, description: 'x' }).catch((e: unknown) => e)
      assert.equal(upnpErrorCode(err), 718)
      assert.match((err as Error).message, /718 ConflictInMappingEntry/)
      assert.ok(!igd.actions.includes('AddAnyPortMapping'))
    } finally {
      await igd.close()
    }
  })

  it('opens, updates and deletes an IPv6 pinhole over ::1', async () => {
    const igd = await startFakeIgd({ host: '::1' })
    try {
      const found = await discoverGateways({ gateways: [igd.location], natPmp: false, timeoutMs: 1000 })
      assert.equal(found.upnp, undefined)
      const gw = found.upnpIpv6
      assert.ok(gw?.firewallStatus !== undefined)
      assert.deepEqual(await gw.firewallStatus(), { firewallEnabled: true, inboundPinholeAllowed: true })
      const p = await openPinhole({ gateway: gw, internalClient: '2a00:12::2', internalPort: 9486, leaseSeconds: 120 })
      assert.deepEqual(igd.pinholes.get(p.uniqueId), { internalClient: '2a00:12::2', internalPort: 9486, protocol: 6, lease: 120 })
      await p.renew()
      assert.ok(igd.actions.includes('UpdatePinhole'))
      await p.close()
      assert.equal(igd.pinholes.size, 0)
      // Unicast SSDP over IPv6 finds it too.
      const viaSsdp = await discoverGateways({ gateways: ['::1'], ssdpPort: igd.ssdpPort, natPmp: false, timeoutMs: 1000 })
      assert.equal(viaSsdp.upnpIpv6?.info.location, igd.location)
    } finally {
      await igd.close()
    }
  })

  it('reports nothing found within the deadline when no IGD answers', async () => {
    const igd = await startFakeIgd()
    const port = igd.ssdpPort
    await igd.close()
    const started = Date.now()
    const found = await discoverGateways({ gateways: ['127.0.0.1'], ssdpPort: port, natPmp: false, ipv6: false, timeoutMs: 300 })
    assert.equal(found.upnp, undefined)
    assert.match(found.errors.upnp ?? '', /no UPnP IGD answered|within 300 ms/)
    assert.ok(Date.now() - started < 2000)
  })

  it('refuses control URLs that leave the description host', () => {
    const xml = '<root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>http://10.9.9.9/ctl</controlURL></service></serviceList></device></root>'
    assert.equal(parseIgdDescription(xml, 'http://192.168.1.1:5000/rootDesc.xml').wan, undefined)
    const ok = xml.replace('http://10.9.9.9/ctl', '/ctl')
    assert.equal(parseIgdDescription(ok, 'http://192.168.1.1:5000/rootDesc.xml').wan?.controlUrl, 'http://192.168.1.1:5000/ctl')
    assert.throws(() => parseIgdDescription('<html/>', 'http://1.2.3.4/'), /not a UPnP device description/)
  })
})
