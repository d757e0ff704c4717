/**
 * Holds a router port mapping (and optionally an IPv6 pinhole) with our mapPort/openPinhole while
 * serving HTTP on the mapped port, for the lab's lease-renewal checks. Runs in the client namespace.
 *
 * Usage: `hold-mapping.ts --port P --lease L [--natpmp] [--pinhole IPV6]`
 *   --natpmp   map over NAT-PMP instead of UPnP-IGD
 *   --pinhole  also open an IPv6 pinhole to IPV6:P (UPnP WANIPv6FirewallControl)
 *
 * Prints `serving <port>`, `mapped via=<protocol> external=<ip>:<port> lease=<s>`,
 * `pinhole id=<n> lease=<s>`, one `renewed kind=<mapping|pinhole> ok=<bool> lease=<s>` per renewal,
 * and on SIGTERM/SIGINT deletes both and prints `deleted mapping=<ok|error> pinhole=<ok|error|->`.
 */
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { discoverGateways, mapPort, openPinhole } from '../../../nat/index.ts'
import type { PinholeHandle, PortMappingHandle } from '../../../nat/index.ts'

const { values } = parseArgs({
  options: { port: { type: 'string' }, lease: { type: 'string' }, natpmp: { type: 'boolean' }, pinhole: { type: 'string' } }
})
const port = Number(values.port)
const lease = Number(values.lease)
if (!Number.isInteger(port) || port < 1 || !Number.isInteger(lease) || lease < 1) {
  throw new Error('usage: hold-mapping.ts --port P --lease L [--natpmp] [--pinhole IPV6]')
}
const say = (line: string): void => { process.stdout.write(`${line}\n`) }

const server = createServer((req, res) => {
  req.resume()
  res.setHeader('connection', 'close')
  res.end(`iicp-lab-target ${port}\n`)
})
server.on('error', err => { say(`error ${err.message}`); process.exit(1) })
await new Promise<void>(resolve => server.listen({ port, host: '::' }, resolve))
say(`serving ${port}`)

const found = await discoverGateways({ upnp: values.natpmp !== true, natPmp: values.natpmp === true, ipv6: values.pinhole !== undefined, timeoutMs: 3000 })
const gateway = values.natpmp === true ? found.natPmp?.gateway : found.upnp
if (gateway === undefined) throw new Error(`no gateway: ${JSON.stringify(found.errors)}`)

const mapping: PortMappingHandle = await mapPort({
  gateway,
  internalPort: port,
  leaseSeconds: lease,
  description: `iicp-lab-hold ${port}`,
  onRenew: r => { say(`renewed kind=mapping ok=${String(r.ok)} lease=${r.leaseSeconds}`) }
})
say(`mapped via=${mapping.gateway.protocol} external=${mapping.externalIp ?? '?'}:${mapping.externalPort} lease=${mapping.leaseSeconds}`)

let pinhole: PinholeHandle | undefined
if (values.pinhole !== undefined) {
  if (found.upnpIpv6 === undefined) throw new Error(`no IPv6 firewall control: ${JSON.stringify(found.errors)}`)
  pinhole = await openPinhole({
    gateway: found.upnpIpv6,
    internalClient: values.pinhole,
    internalPort: port,
    leaseSeconds: lease,
    onRenew: r => { say(`renewed kind=pinhole ok=${String(r.ok)} lease=${r.leaseSeconds}`) }
  })
  say(`pinhole id=${pinhole.uniqueId} lease=${pinhole.leaseSeconds}`)
}

const stop = (): void => {
  void (async () => {
    const mErr = await mapping.close()
    const pErr = pinhole === undefined ? undefined : await pinhole.close()
    say(`deleted mapping=${mErr === undefined ? 'ok' : `error:${mErr.message}`} pinhole=${pinhole === undefined ? '-' : pErr === undefined ? 'ok' : `error:${pErr.message}`}`)
    server.close(() => { process.exit(0) })
    server.closeAllConnections()
  })()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
