/**
 * A tiny UPnP IGD on loopback for tests: an SSDP responder (UDP, answers M-SEARCH sent to it by
 * unicast) and an HTTP server with the device description and SOAP control for
 * WANIPConnection (v1 or v2) and WANIPv6FirewallControl. It keeps mappings and pinholes in
 * memory and can be told to answer an action with a UPnP error. Loopback only, port 0.
 */
import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server } from 'node:http'

/** Options for {@link startFakeIgd}. */
export interface FakeIgdOptions {
  /** Loopback address to bind (127.0.0.1 or ::1). @default '127.0.0.1' */
  host?: string
  /** IGD version: 2 offers WANIPConnection:2 (AddAnyPortMapping). @default 2 */
  version?: 1 | 2
  /** WAN address returned by GetExternalIPAddress. @default '203.0.113.7' */
  externalIp?: string
  /** Offer WANIPv6FirewallControl. @default true */
  firewall?: boolean
  /** Cap applied to granted leases (seconds), as some routers do. */
  maxLease?: number
}

/** A mapping as the fake holds it. */
export interface FakeIgdMapping {
  externalPort: number
  protocol: string
  internalPort: number
  internalClient: string
  lease: number
  description: string
}

/** The running fake. */
export interface FakeIgd {
  /** UDP port of the SSDP responder. */
  ssdpPort: number
  /** Device description URL. */
  location: string
  /** Mappings by `PROTO/port`. */
  mappings: Map<string, FakeIgdMapping>
  /** Pinholes by UniqueID. */
  pinholes: Map<number, { internalClient: string, internalPort: number, protocol: number, lease: number }>
  /** SOAP actions received, in order. */
  actions: string[]
  /** M-SEARCH targets received. */
  searches: string[]
  /** Action name → UPnP error code to answer with (removed after one use when `once`). */
  faults: Map<string, { code: number, once: boolean }>
  /** Stops both servers. */
  close: () => Promise<void>
}

const ERROR_TEXT: Record<number, string> = { 402: 'Invalid Args', 501: 'Action Failed', 606: 'Action not authorized', 704: 'NoSuchEntry', 714: 'NoSuchEntryInArray', 718: 'ConflictInMappingEntry', 725: 'OnlyPermanentLeasesSupported' }

function envelope (body: string): string {
  return `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${body}</s:Body></s:Envelope>\r\n`
}

function description (version: 1 | 2, firewall: boolean): string {
  const wan = `urn:schemas-upnp-org:service:WANIPConnection:${version}`
  const fw = firewall ? '<service><serviceType>urn:schemas-upnp-org:service:WANIPv6FirewallControl:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId><SCPDURL>/WANIP6FC.xml</SCPDURL><controlURL>/ctl/IP6FCtl</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL></service>' : ''
  return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<!-- fake IGD for tests -->
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:${version}</deviceType><friendlyName>Fake &amp; Test Router</friendlyName><UDN>uuid:fake-igd</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:${version}</deviceType><friendlyName>WANDevice</friendlyName>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:${version}</deviceType><friendlyName>WANConnectionDevice</friendlyName>
<serviceList><service><serviceType>${wan}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service>${fw}</serviceList>
</device></deviceList></device></deviceList></device></root>`
}

function arg (body: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)
  return m?.[1]
}

/** Starts the fake IGD on loopback. */
export async function startFakeIgd (options: FakeIgdOptions = {}): Promise<FakeIgd> {
  const host = options.host ?? '127.0.0.1'
  const version = options.version ?? 2
  const mappings = new Map<string, FakeIgdMapping>()
  const pinholes: FakeIgd['pinholes'] = new Map()
  const actions: string[] = []
  const searches: string[] = []
  const faults: FakeIgd['faults'] = new Map()
  let nextPinhole = 1
  const httpHost = host.includes(':') ? `[${host}]` : host
  let location = ''

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const reply = (status: number, xml: string): void => {
        res.writeHead(status, { 'content-type': 'text/xml; charset="utf-8"', connection: 'close' })
        res.end(xml)
      }
      if (req.method === 'GET' && req.url === '/rootDesc.xml') {
        reply(200, description(version, options.firewall !== false))
        return
      }
      const soapAction = String(req.headers.soapaction ?? '').replace(/"/g, '')
      const [service = '', action = ''] = soapAction.split('#')
      actions.push(action)
      const fault = faults.get(action)
      if (fault !== undefined) {
        if (fault.once) faults.delete(action)
        reply(500, envelope(`<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${fault.code}</errorCode><errorDescription>${ERROR_TEXT[fault.code] ?? 'Error'}</errorDescription></UPnPError></detail></s:Fault>`))
        return
      }
      const ok = (inner: string): void => { reply(200, envelope(`<u:${action}Response xmlns:u="${service}">${inner}</u:${action}Response>`)) }
      const lease = (n: number): number => options.maxLease === undefined ? n : Math.min(n, options.maxLease)
      switch (action) {
        case 'GetExternalIPAddress':
          ok(`<NewExternalIPAddress>${options.externalIp ?? '203.0.113.7'}</NewExternalIPAddress>`)
          return
        case 'AddPortMapping':
        case 'AddAnyPortMapping': {
          let port = Number(arg(body, 'NewExternalPort'))
          const proto = arg(body, 'NewProtocol') ?? ''
          if (action === 'AddAnyPortMapping') while (mappings.has(`${proto}/${port}`)) port++
          mappings.set(`${proto}/${port}`, {
            externalPort: port, protocol: proto, internalPort: Number(arg(body, 'NewInternalPort')),
            internalClient: arg(body, 'NewInternalClient') ?? '', lease: lease(Number(arg(body, 'NewLeaseDuration'))), description: arg(body, 'NewPortMappingDescription') ?? ''
          })
          ok(action === 'AddAnyPortMapping' ? `<NewReservedPort>${port}</NewReservedPort>` : '')
          return
        }
        case 'GetSpecificPortMappingEntry': {
          const m = mappings.get(`${arg(body, 'NewProtocol') ?? ''}/${Number(arg(body, 'NewExternalPort'))}`)
          if (m === undefined) {
            reply(500, envelope('<s:Fault><detail><UPnPError><errorCode>714</errorCode><errorDescription>NoSuchEntryInArray</errorDescription></UPnPError></detail></s:Fault>'))
            return
          }
          ok(`<NewInternalPort>${m.internalPort}</NewInternalPort><NewInternalClient>${m.internalClient}</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>${m.description}</NewPortMappingDescription><NewLeaseDuration>${m.lease}</NewLeaseDuration>`)
          return
        }
        case 'DeletePortMapping': {
          const key = `${arg(body, 'NewProtocol') ?? ''}/${Number(arg(body, 'NewExternalPort'))}`
          if (!mappings.delete(key)) {
            reply(500, envelope('<s:Fault><detail><UPnPError><errorCode>714</errorCode><errorDescription>NoSuchEntryInArray</errorDescription></UPnPError></detail></s:Fault>'))
            return
          }
          ok('')
          return
        }
        case 'GetFirewallStatus':
          ok('<FirewallEnabled>1</FirewallEnabled><InboundPinholeAllowed>1</InboundPinholeAllowed>')
          return
        case 'AddPinhole': {
          const id = nextPinhole++
          pinholes.set(id, { internalClient: arg(body, 'InternalClient') ?? '', internalPort: Number(arg(body, 'InternalPort')), protocol: Number(arg(body, 'Protocol')), lease: Number(arg(body, 'LeaseTime')) })
          ok(`<UniqueID>${id}</UniqueID>`)
          return
        }
        case 'UpdatePinhole': {
          const p = pinholes.get(Number(arg(body, 'UniqueID')))
          if (p === undefined) {
            reply(500, envelope('<s:Fault><detail><UPnPError><errorCode>704</errorCode><errorDescription>NoSuchEntry</errorDescription></UPnPError></detail></s:Fault>'))
            return
          }
          p.lease = Number(arg(body, 'NewLeaseTime'))
          ok('')
          return
        }
        case 'DeletePinhole':
          if (!pinholes.delete(Number(arg(body, 'UniqueID')))) {
            reply(500, envelope('<s:Fault><detail><UPnPError><errorCode>704</errorCode><errorDescription>NoSuchEntry</errorDescription></UPnPError></detail></s:Fault>'))
            return
          }
          ok('')
          return
        default:
          reply(500, envelope('<s:Fault><detail><UPnPError><errorCode>401</errorCode><errorDescription>Invalid Action</errorDescription></UPnPError></detail></s:Fault>'))
      }
    })
  })
  server.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => { resolve() })
  })
  const addr = server.address()
  const httpPort = addr !== null && typeof addr === 'object' ? addr.port : 0
  location = `http://${httpHost}:${httpPort}/rootDesc.xml`

  const ssdp: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  ssdp.on('error', () => undefined)
  ssdp.on('message', (msg, rinfo) => {
    const text = msg.toString('latin1')
    if (!text.startsWith('M-SEARCH * HTTP/1.1')) return
    const st = /\r\nST: *([^\r]+)/i.exec(text)?.[1]?.trim() ?? ''
    searches.push(st)
    const known = [`urn:schemas-upnp-org:device:InternetGatewayDevice:${version}`, 'urn:schemas-upnp-org:device:InternetGatewayDevice:1', ...(options.firewall === false ? [] : ['urn:schemas-upnp-org:service:WANIPv6FirewallControl:1'])]
    if (!known.includes(st)) return
    const answer = `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: ${st}\r\nUSN: uuid:fake-igd::${st}\r\nEXT:\r\nSERVER: fake/1 UPnP/1.1 test/1\r\nLOCATION: ${location}\r\n\r\n`
    ssdp.send(Buffer.from(answer, 'latin1'), rinfo.port, rinfo.address)
  })
  await new Promise<void>(resolve => ssdp.bind(0, host, () => { resolve() }))
  const ssdpPort = ssdp.address().port

  return {
    ssdpPort,
    location,
    mappings,
    pinholes,
    actions,
    searches,
    faults,
    close: async () => {
      ssdp.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
