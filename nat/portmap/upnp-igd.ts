/**
 * UPnP Internet Gateway Device client: device description, SOAP control, and a
 * {@link Gateway} over WANIPConnection (v1/v2) or WANPPPConnection plus WANIPv6FirewallControl.
 *
 * Written here instead of using @achingbrain/nat-port-mapper (v4.0.5) because that library
 * discovers only IGD:2 (on port 1900 of every interface, with no way to aim at one), forces
 * leases of at least 3600 s, deletes mappings with an empty protocol and the internal instead
 * of the external port, and sends AddPinhole to the WANIPConnection service (miniupnpd needs
 * WANIPv6FirewallControl, over IPv6). This client speaks IGD v1 and v2 and was checked against
 * miniupnpd 2.3.1 (map, renew, delete, pinhole).
 *
 * About 310 lines on purpose: one protocol client (description, SOAP call, the Gateway over it)
 * whose parts share the service table and error codes; the XML reader and SSDP are separate.
 */
import { deadline } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { unbracketHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { httpRequest } from '../../src/http/request.ts'
import type { FirewallStatus, Gateway, GatewayCallOptions, GatewayInfo, MapProtocol, PinholeRequest, PortMappingGrant, PortMappingKey, PortMappingRequest } from './types.ts'
import { childOf, childText, childrenOf, escapeXml, parseXml, type XmlElement } from './upnp-xml.ts'

/** WAN connection service types, preferred first. */
const WAN_SERVICE_TYPES: readonly string[] = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1'
]

/** IPv6 firewall control service type. */
const FIREWALL_SERVICE_TYPE = 'urn:schemas-upnp-org:service:WANIPv6FirewallControl:1'

/** Default deadline of one description fetch or SOAP call. */
const UPNP_CALL_TIMEOUT_MS = 3000

/** Largest description or SOAP response accepted. */
const MAX_UPNP_RESPONSE_BYTES = 128 * 1024

/** A control endpoint of one service. */
export interface IgdService {
  /** Service type URN. */
  serviceType: string
  /** Absolute control URL. */
  controlUrl: string
}

/** What a device description offers. */
export interface IgdDescription {
  /** Description URL. */
  location: string
  /** Root device type. */
  deviceType: string
  /** Root device friendly name. */
  friendlyName?: string
  /** Chosen WAN connection service, if any. */
  wan?: IgdService
  /** IPv6 firewall control service, if any. */
  firewall?: IgdService
}

/** UPnP error codes that mean "already gone" for deletes. */
const NO_SUCH_ENTRY = new Set([714, 704])

/** Upper bound on UPnP leases (WANIPConnection:2 caps at 604800 s). */
const MAX_UPNP_LEASE_S = 604800

function hostOf (url: URL): string {
  return unbracketHost(url.hostname)
}

/** Parses a device description; control URLs must stay on the description's host. */
export function parseIgdDescription (xml: string, location: string): IgdDescription {
  const root = parseXml(xml)
  const base = new URL(childText(root, 'URLBase') ?? location)
  const loc = new URL(location)
  const device = childOf(root, 'device')
  if (root.local !== 'root' || device === undefined) throw new ToolkitError(ErrorCode.Protocol, `${location} is not a UPnP device description`)
  const services: Array<{ type: string, control: string }> = []
  const walk = (d: XmlElement, depth: number): void => {
    if (depth > 8) return
    for (const s of childrenOf(childOf(d, 'serviceList'), 'service')) {
      const type = childText(s, 'serviceType')
      const control = childText(s, 'controlURL')
      if (type !== undefined && control !== undefined && control !== '') services.push({ type, control })
    }
    for (const sub of childrenOf(childOf(d, 'deviceList'), 'device')) walk(sub, depth + 1)
  }
  walk(device, 0)
  const resolve = (control: string): string | undefined => {
    try {
      const u = new URL(control, base)
      return u.protocol === 'http:' && hostOf(u) === hostOf(loc) ? u.href : undefined
    } catch {
      return undefined
    }
  }
  const pick = (types: readonly string[]): IgdService | undefined => {
    for (const t of types) {
      const s = services.find(x => x.type === t)
      const url = s === undefined ? undefined : resolve(s.control)
      if (url !== undefined) return { serviceType: t, controlUrl: url }
    }
    return undefined
  }
  const out: IgdDescription = { location, deviceType: childText(device, 'deviceType') ?? '' }
  const friendlyName = childText(device, 'friendlyName')
  if (friendlyName !== undefined) out.friendlyName = friendlyName
  const wan = pick(WAN_SERVICE_TYPES)
  if (wan !== undefined) out.wan = wan
  const firewall = pick([FIREWALL_SERVICE_TYPE])
  if (firewall !== undefined) out.firewall = firewall
  return out
}

/** Fetches and parses a device description (bounded in time and size). */
export async function fetchIgdDescription (location: string, options: GatewayCallOptions & { timeoutMs?: number } = {}): Promise<IgdDescription> {
  const url = new URL(location)
  if (url.protocol !== 'http:' || tryParseIp(hostOf(url)) === undefined) {
    throw new ToolkitError(ErrorCode.InvalidConfig, `UPnP description URL must be http:// with an IP literal host, got ${location}`)
  }
  const dl = deadline(options.timeoutMs ?? UPNP_CALL_TIMEOUT_MS, options.signal, ErrorCode.PortMapUnavailable, `UPnP description ${location} timed out`)
  try {
    const res = await httpRequest({ url, signal: dl.signal, maxBodyBytes: MAX_UPNP_RESPONSE_BYTES, errorCode: ErrorCode.PortMapUnavailable })
    if (res.status !== 200) throw new ToolkitError(ErrorCode.PortMapUnavailable, `UPnP description ${location} answered HTTP ${res.status}`)
    return parseIgdDescription(res.body.toString('utf8'), url.href)
  } finally {
    dl.clear()
  }
}

/** Options for {@link soapCall}. */
export interface SoapCallOptions extends GatewayCallOptions {
  /** Deadline of the call. @default UPNP_CALL_TIMEOUT_MS */
  timeoutMs?: number
}

/**
 * Invokes one SOAP action and returns the response arguments by name. A SOAP fault becomes
 * ERR_PORTMAP_FAILED with `details.upnpErrorCode` (e.g. 718 ConflictInMappingEntry).
 */
export async function soapCall (service: IgdService, action: string, args: ReadonlyArray<readonly [string, string | number]>, options: SoapCallOptions = {}): Promise<Record<string, string>> {
  const body = '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(service.serviceType)}">` +
    args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('') +
    `</u:${action}></s:Body></s:Envelope>\r\n`
  const dl = deadline(options.timeoutMs ?? UPNP_CALL_TIMEOUT_MS, options.signal, ErrorCode.PortMapFailed, `UPnP ${action} timed out`)
  let res
  try {
    res = await httpRequest({
      url: service.controlUrl,
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset="utf-8"', soapaction: `"${service.serviceType}#${action}"` },
      body,
      signal: dl.signal,
      maxBodyBytes: MAX_UPNP_RESPONSE_BYTES,
      errorCode: ErrorCode.PortMapFailed
    })
  } finally {
    dl.clear()
  }
  let envelope: XmlElement
  try {
    envelope = parseXml(res.body.toString('utf8'))
  } catch (err) {
    throw new ToolkitError(ErrorCode.PortMapFailed, `UPnP ${action}: unreadable answer (HTTP ${res.status}): ${errorMessage(err)}`, { cause: err })
  }
  const first = childOf(envelope, 'Body')?.children[0]
  if (first?.local === 'Fault') {
    const upnpError = childOf(childOf(first, 'detail'), 'UPnPError')
    const code = Number(childText(upnpError, 'errorCode') ?? NaN)
    const description = childText(upnpError, 'errorDescription') ?? childText(first, 'faultstring') ?? 'fault'
    throw new ToolkitError(ErrorCode.PortMapFailed, `UPnP ${action} failed: ${Number.isInteger(code) ? `${code} ` : ''}${description}`, {
      details: { action, ...(Number.isInteger(code) ? { upnpErrorCode: code } : {}), upnpErrorDescription: description }
    })
  }
  if (res.status !== 200 || first === undefined || first.local !== `${action}Response`) {
    throw new ToolkitError(ErrorCode.PortMapFailed, `UPnP ${action}: unexpected answer (HTTP ${res.status})`)
  }
  const out: Record<string, string> = {}
  for (const c of first.children) out[c.local] = c.text.trim()
  return out
}

/** The UPnP error code carried by a SOAP fault, if any. */
export function upnpErrorCode (err: unknown): number | undefined {
  if (!isToolkitError(err, ErrorCode.PortMapFailed)) return undefined
  const code = err.details?.upnpErrorCode
  return typeof code === 'number' ? code : undefined
}

function upnpProtocol (p: MapProtocol): string {
  return p === 'udp' ? 'UDP' : 'TCP'
}

function truthy (value: string | undefined): boolean {
  return value === '1' || value?.toLowerCase() === 'true' || value?.toLowerCase() === 'yes'
}

/** Options for {@link createUpnpGateway}. */
export interface UpnpGatewayOptions {
  /** Deadline per SOAP call. @default UPNP_CALL_TIMEOUT_MS */
  timeoutMs?: number
}

/**
 * A {@link Gateway} over a parsed IGD description. IPv4 mapping needs a WAN connection
 * service; pinhole methods exist only when the description offers WANIPv6FirewallControl.
 */
export function createUpnpGateway (description: IgdDescription, options: UpnpGatewayOptions = {}): Gateway {
  const location = new URL(description.location)
  const info: GatewayInfo = { protocol: 'upnp-igd', address: hostOf(location), location: description.location, deviceType: description.deviceType, ipv6Firewall: description.firewall !== undefined }
  if (description.friendlyName !== undefined) info.friendlyName = description.friendlyName
  if (description.wan !== undefined) info.serviceType = description.wan.serviceType
  const call = async (svc: IgdService | undefined, action: string, args: ReadonlyArray<readonly [string, string | number]>, o: GatewayCallOptions | undefined): Promise<Record<string, string>> => {
    if (svc === undefined) throw new ToolkitError(ErrorCode.PortMapUnavailable, `${description.location} offers no service for ${action}`)
    return await soapCall(svc, action, args, { timeoutMs: options.timeoutMs ?? UPNP_CALL_TIMEOUT_MS, ...(o?.signal === undefined ? {} : { signal: o.signal }) })
  }
  const wan = description.wan
  const fw = description.firewall

  const addMapping = async (r: PortMappingRequest, externalPort: number, lease: number, o?: GatewayCallOptions): Promise<void> => {
    await call(wan, 'AddPortMapping', [
      ['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', upnpProtocol(r.protocol)],
      ['NewInternalPort', r.internalPort], ['NewInternalClient', r.internalHost], ['NewEnabled', 1],
      ['NewPortMappingDescription', r.description], ['NewLeaseDuration', lease]
    ], o)
  }

  // The lease the IGD actually holds, read back with GetSpecificPortMappingEntry; the
  // requested one when the router does not answer that action.
  const grantedLease = async (externalPort: number, protocol: MapProtocol, requested: number, o?: GatewayCallOptions): Promise<number> => {
    try {
      const res = await call(wan, 'GetSpecificPortMappingEntry', [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', upnpProtocol(protocol)]], o)
      const lease = Number(res.NewLeaseDuration)
      return Number.isInteger(lease) && lease >= 0 ? lease : requested
    } catch (err) {
      if (o?.signal?.aborted === true) throw err
      return requested
    }
  }

  const gateway: Gateway = {
    info,
    async externalIp (o) {
      const res = await call(wan, 'GetExternalIPAddress', [], o)
      return res.NewExternalIPAddress ?? ''
    },
    async addPortMapping (r, o): Promise<PortMappingGrant> {
      let lease = Math.min(Math.max(0, Math.floor(r.leaseSeconds)), MAX_UPNP_LEASE_S)
      let externalPort = r.externalPort
      try {
        await addMapping(r, externalPort, lease, o)
      } catch (err) {
        const code = upnpErrorCode(err)
        if (code === 725 && lease !== 0) {
          // OnlyPermanentLeasesSupported: the caller must delete it on close.
          lease = 0
          await addMapping(r, externalPort, lease, o)
        } else if ((code === 718 || code === 724) && wan?.serviceType.endsWith(':2') === true) {
          const res = await call(wan, 'AddAnyPortMapping', [
            ['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', upnpProtocol(r.protocol)],
            ['NewInternalPort', r.internalPort], ['NewInternalClient', r.internalHost], ['NewEnabled', 1],
            ['NewPortMappingDescription', r.description], ['NewLeaseDuration', lease]
          ], o)
          const reserved = Number(res.NewReservedPort)
          if (!Number.isInteger(reserved) || reserved < 1 || reserved > 65535) throw new ToolkitError(ErrorCode.PortMapFailed, 'AddAnyPortMapping returned no valid port')
          externalPort = reserved
        } else {
          throw err
        }
      }
      try {
        return { externalPort, leaseSeconds: await grantedLease(externalPort, r.protocol, lease, o) }
      } catch (err) {
        // Cancelled right after the router granted it: take it back rather than leak it.
        await gateway.deletePortMapping({ externalPort, internalPort: r.internalPort, protocol: r.protocol }).catch(() => undefined)
        throw err
      }
    },
    async deletePortMapping (k: PortMappingKey, o) {
      try {
        await call(wan, 'DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', k.externalPort], ['NewProtocol', upnpProtocol(k.protocol)]], o)
      } catch (err) {
        if (!NO_SUCH_ENTRY.has(upnpErrorCode(err) ?? -1)) throw err
      }
    }
  }

  if (fw !== undefined) {
    gateway.firewallStatus = async (o): Promise<FirewallStatus> => {
      const res = await call(fw, 'GetFirewallStatus', [], o)
      return { firewallEnabled: truthy(res.FirewallEnabled), inboundPinholeAllowed: truthy(res.InboundPinholeAllowed) }
    }
    gateway.addPinhole = async (r: PinholeRequest, o): Promise<number> => {
      const res = await call(fw, 'AddPinhole', [
        ['RemoteHost', r.remoteHost ?? ''], ['RemotePort', r.remotePort ?? 0], ['InternalClient', r.internalClient],
        ['InternalPort', r.internalPort], ['Protocol', r.protocol === 'udp' ? 17 : 6], ['LeaseTime', Math.min(Math.max(1, Math.floor(r.leaseSeconds)), 86400)]
      ], o)
      const id = Number(res.UniqueID)
      if (!Number.isInteger(id) || id < 0 || id > 65535) throw new ToolkitError(ErrorCode.PortMapFailed, 'AddPinhole returned no valid UniqueID')
      return id
    }
    gateway.updatePinhole = async (id, leaseSeconds, o) => {
      await call(fw, 'UpdatePinhole', [['UniqueID', id], ['NewLeaseTime', Math.min(Math.max(1, Math.floor(leaseSeconds)), 86400)]], o)
    }
    gateway.deletePinhole = async (id, o) => {
      try {
        await call(fw, 'DeletePinhole', [['UniqueID', id]], o)
      } catch (err) {
        if (!NO_SUCH_ENTRY.has(upnpErrorCode(err) ?? -1)) throw err
      }
    }
  }
  return gateway
}
