/**
 * Gateway discovery: find the router (UPnP-IGD over SSDP, or an explicit description URL;
 * NAT-PMP to the default or an explicit gateway) and the IGD's IPv6 firewall service.
 *
 * Network safety: discovery without explicit `gateways` sends SSDP multicast and NAT-PMP to the
 * host's real default gateway. Tests pass loopback `gateways` (or disable both protocols).
 */
import { deadline, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { urlHost } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { defaultGatewayV4, listLocalAddresses, type InterfaceSources } from '../net/interfaces.ts'
import { createNatPmpGateway, NAT_PMP_PORT } from './natpmp.ts'
import type { Gateway } from './types.ts'
import { createUpnpGateway, fetchIgdDescription, type IgdDescription } from './upnp-igd.ts'
import { FIREWALL_SEARCH_TARGET, IGD_SEARCH_TARGETS, ssdpSearch, type SsdpSearchOptions } from './upnp-ssdp.ts'

/** Default deadline for gateway discovery. */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 1500

/** Options for {@link discoverGateways}. */
export interface DiscoverGatewaysOptions {
  /** Look for a UPnP IGD. @default true */
  upnp?: boolean
  /** Ask NAT-PMP. @default true */
  natPmp?: boolean
  /** Look for an IGD reachable over IPv6 with WANIPv6FirewallControl (pinholes). @default true */
  ipv6?: boolean
  /**
   * Explicit gateways instead of multicast / default-gateway discovery: an `http://` device
   * description URL (UPnP, no SSDP), or an IP literal (SSDP unicast to it, and for IPv4 NAT-PMP).
   */
  gateways?: string[]
  /** IPv4 source address for SSDP (selects the multicast interface). */
  localAddress?: string
  /** Interface name: its IPv4 address is the SSDP source, and it scopes the IPv6 group. */
  interface?: string
  /** SSDP port for unicast targets (tests). @default 1900 */
  ssdpPort?: number
  /** NAT-PMP server port (tests). @default 5351 */
  natPmpPort?: number
  /** Deadline for the whole discovery. @default 1500 */
  timeoutMs?: number
  /** Cancels discovery. */
  signal?: AbortSignal
  /** Logger. @default silentLogger() */
  logger?: Logger
  /** Interface sources (tests). */
  interfaceSources?: InterfaceSources
  /** Reads `/proc/net/route` (tests). */
  readRoute?: () => string | undefined
}

/** What discovery found. */
export interface DiscoveredGateways {
  /** UPnP IGD with a WAN connection service (IPv4 mappings). */
  upnp?: Gateway
  /** UPnP IGD reached over IPv6 with IPv6 firewall control (pinholes). */
  upnpIpv6?: Gateway
  /** NAT-PMP gateway that answered, with the external address it reported. */
  natPmp?: { gateway: Gateway, externalIp: string }
  /** A NAT-PMP gateway answered with an error result code (3 = it has no public address). */
  natPmpRefusal?: { gateway: string, resultCode: number }
  /** Why each protocol found nothing, by protocol (`upnp`, `upnp6`, `natpmp`). */
  errors: Record<string, string>
}

function isUrl (text: string): boolean {
  return /^https?:\/\//i.test(text)
}

function urlFamily (text: string): 4 | 6 | undefined {
  return tryParseIp(urlHost(text))?.family
}

async function firstIgd (search: SsdpSearchOptions, accept: (d: IgdDescription) => boolean, signal: AbortSignal): Promise<IgdDescription | undefined> {
  const failures: string[] = []
  for await (const r of ssdpSearch({ ...search, signal })) {
    try {
      const d = await fetchIgdDescription(r.location, { signal })
      if (accept(d)) return d
      failures.push(`${r.location}: no usable service`)
    } catch (err) {
      if (signal.aborted) break
      failures.push(`${r.location}: ${errorMessage(err)}`)
    }
  }
  if (failures.length > 0) throw new ToolkitError(ErrorCode.PortMapUnavailable, failures.join('; '))
  return undefined
}

/**
 * Discovers UPnP (IPv4 and IPv6) and NAT-PMP gateways concurrently, bounded by `timeoutMs`.
 * Never throws for "nothing found"; reasons are in `errors`.
 */
export async function discoverGateways (options: DiscoverGatewaysOptions = {}): Promise<DiscoveredGateways> {
  throwIfAborted(options.signal, 'gateway discovery')
  const log = options.logger ?? silentLogger()
  const timeoutMs = options.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS
  const dl = deadline(timeoutMs, options.signal, ErrorCode.PortMapUnavailable, `no gateway answered within ${timeoutMs} ms`)
  const out: DiscoveredGateways = { errors: {} }
  const explicit = options.gateways ?? []
  const locals = options.interface === undefined ? [] : listLocalAddresses(options.interfaceSources).filter(a => a.interface === options.interface)
  const localV4 = options.localAddress ?? locals.find(a => a.family === 4)?.address
  const ssdpPort = options.ssdpPort ?? 1900
  const settle = async (name: string, task: () => Promise<void>): Promise<void> => {
    try {
      await task()
    } catch (err) {
      out.errors[name] = dl.signal.aborted && options.signal?.aborted !== true ? `no answer within ${timeoutMs} ms` : errorMessage(err)
      log.debug({ err: out.errors[name] }, `${name} discovery found nothing`)
    }
  }
  const tasks: Array<Promise<void>> = []

  if (options.upnp !== false) {
    tasks.push(settle('upnp', async () => {
      const url = explicit.find(g => isUrl(g) && urlFamily(g) === 4)
      const ip = explicit.find(g => tryParseIp(g)?.family === 4)
      let d: IgdDescription | undefined
      if (url !== undefined) d = await fetchIgdDescription(url, { signal: dl.signal })
      else if (ip !== undefined || explicit.length === 0) {
        const search: SsdpSearchOptions = { family: 4, searchTargets: IGD_SEARCH_TARGETS, timeoutMs }
        if (ip !== undefined) search.target = { address: ip, port: ssdpPort }
        if (localV4 !== undefined) search.localAddress = localV4
        d = await firstIgd(search, x => x.wan !== undefined, dl.signal)
      }
      if (d?.wan === undefined) throw new ToolkitError(ErrorCode.PortMapUnavailable, d === undefined ? 'no UPnP IGD answered' : `${d.location} has no WAN connection service`)
      out.upnp = createUpnpGateway(d)
    }))
  }
  if (options.upnp !== false && options.ipv6 !== false) {
    tasks.push(settle('upnp6', async () => {
      const url = explicit.find(g => isUrl(g) && urlFamily(g) === 6)
      const ip = explicit.find(g => tryParseIp(g)?.family === 6)
      let d: IgdDescription | undefined
      if (url !== undefined) d = await fetchIgdDescription(url, { signal: dl.signal })
      else if (ip !== undefined) {
        d = await firstIgd({ family: 6, searchTargets: [FIREWALL_SEARCH_TARGET, ...IGD_SEARCH_TARGETS], timeoutMs, target: { address: ip, port: ssdpPort } }, x => x.firewall !== undefined, dl.signal)
      } else if (explicit.length === 0) {
        const all = options.interface === undefined ? listLocalAddresses(options.interfaceSources) : locals
        const ifaces = [...new Set(all.filter(a => a.family === 6 && a.range === 'global').map(a => a.interface))].slice(0, 8)
        for (const name of ifaces) {
          d = await firstIgd({ family: 6, interface: name, searchTargets: [FIREWALL_SEARCH_TARGET, ...IGD_SEARCH_TARGETS], timeoutMs }, x => x.firewall !== undefined, dl.signal)
          if (d !== undefined) break
        }
      }
      if (d?.firewall === undefined) throw new ToolkitError(ErrorCode.PortMapUnavailable, d === undefined ? 'no IGD with IPv6 firewall control answered over IPv6' : `${d.location} has no WANIPv6FirewallControl service`)
      out.upnpIpv6 = createUpnpGateway(d)
    }))
  }
  if (options.natPmp !== false) {
    tasks.push(settle('natpmp', async () => {
      const v4Url = explicit.find(g => isUrl(g) && urlFamily(g) === 4)
      const explicitIp = explicit.find(g => tryParseIp(g)?.family === 4) ?? (v4Url === undefined ? undefined : new URL(v4Url).hostname)
      const address = explicit.length > 0 ? explicitIp : defaultGatewayV4(options.readRoute)?.address
      if (address === undefined) throw new ToolkitError(ErrorCode.PortMapUnavailable, explicit.length > 0 ? 'no IPv4 gateway address given' : 'no IPv4 default gateway')
      const gateway = createNatPmpGateway({ address, port: options.natPmpPort ?? NAT_PMP_PORT, timeoutMs })
      try {
        out.natPmp = { gateway, externalIp: await gateway.externalIp({ signal: dl.signal }) }
      } catch (err) {
        const code = isToolkitError(err, ErrorCode.PortMapFailed) ? err.details?.natPmpResultCode : undefined
        if (typeof code === 'number') out.natPmpRefusal = { gateway: address, resultCode: code }
        throw err
      }
    }))
  }
  try {
    await Promise.all(tasks)
  } finally {
    dl.clear()
  }
  throwIfAborted(options.signal, 'gateway discovery')
  return out
}
