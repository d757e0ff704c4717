/**
 * Port mapping: find the router (UPnP-IGD over SSDP, or an explicit description URL; NAT-PMP
 * to the default or an explicit gateway), map a port with a renewing lease, and open IPv6
 * pinholes, all behind the {@link Gateway} seam.
 *
 * Network safety: discovery without explicit `gateways` sends SSDP multicast and NAT-PMP to the
 * host's real default gateway. Tests pass loopback `gateways` (or disable both protocols).
 */
import { deadline, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { defaultGatewayV4, listLocalAddresses, sourceAddressToward, type InterfaceSources } from '../net/interfaces.ts'
import { createLeaseKeeper, type LeaseKeeper, type LeaseRenewalOptions } from './lease-keeper.ts'
import { createNatPmpGateway, NAT_PMP_PORT } from './natpmp.ts'
import type { Gateway, GatewayInfo, MapProtocol } from './types.ts'
import { createUpnpGateway, fetchIgdDescription, type IgdDescription } from './upnp-igd.ts'
import { FIREWALL_SEARCH_TARGET, IGD_SEARCH_TARGETS, ssdpSearch, type SsdpSearchOptions } from './upnp-ssdp.ts'

export type { FirewallStatus, Gateway, GatewayCallOptions, GatewayInfo, GatewayProtocol, MapProtocol, PinholeRequest, PortMappingGrant, PortMappingKey, PortMappingRequest } from './types.ts'

/** Default deadline for gateway discovery. */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 1500
/** Default lease for mappings and pinholes. */
export const DEFAULT_LEASE_SECONDS = 3600

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
  try {
    const h = new URL(text).hostname
    return tryParseIp(h.startsWith('[') ? h.slice(1, -1) : h)?.family
  } catch {
    return undefined
  }
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

/** Options for {@link mapPort}. */
export interface MapPortOptions extends LeaseRenewalOptions {
  /** Gateway to use; discovered with `discover` when absent (UPnP preferred, then NAT-PMP). */
  gateway?: Gateway
  /** Discovery options when no `gateway` is given. */
  discover?: Omit<DiscoverGatewaysOptions, 'signal' | 'logger'>
  /** Local port receiving the traffic. */
  internalPort: number
  /** LAN address receiving the traffic. @default the source address toward the gateway */
  internalHost?: string
  /** Requested external port. @default internalPort */
  externalPort?: number
  /** Protocol. @default 'tcp' */
  protocol?: MapProtocol
  /** Requested lease in seconds. @default 3600 */
  leaseSeconds?: number
  /** Description in the router's table. @default 'iicp-nat <port>' */
  description?: string
  /** Cancels the initial mapping (not the renewals: close() stops those). */
  signal?: AbortSignal
}

/** What a live mapping and a live pinhole share: the leased port and the renewal controls. */
export interface LeaseHandle {
  /** Protocol. */
  readonly protocol: MapProtocol
  /** Local port receiving the traffic. */
  readonly internalPort: number
  /** Granted lease in seconds (0 = permanent). */
  readonly leaseSeconds: number
  /** Successful renewals so far. */
  readonly renewals: number
  /** When the lease runs out (ms since epoch); undefined when permanent. */
  readonly expiresAt: number | undefined
  /** Renews now. */
  renew: (signal?: AbortSignal) => Promise<void>
  /** Stops renewing and deletes the mapping or pinhole (unless `keep`). Idempotent; resolves with the delete error, if any. */
  close: (options?: { keep?: boolean, signal?: AbortSignal }) => Promise<ToolkitError | undefined>
  /** Same as close(). */
  [Symbol.asyncDispose]: () => Promise<void>
}

/** A live port mapping that renews itself until closed. */
export interface PortMappingHandle extends LeaseHandle {
  /** The gateway it lives on. */
  readonly gateway: GatewayInfo
  /** LAN address. */
  readonly internalHost: string
  /** External port granted. */
  readonly externalPort: number
  /** Gateway's external address (undefined when it would not say). */
  readonly externalIp: string | undefined
}

/** Adds the keeper-backed {@link LeaseHandle} members (live getters and controls) to `fixed`. */
function leaseHandle<T extends Omit<LeaseHandle, LeaseMember>> (fixed: T, keeper: LeaseKeeper): T & LeaseHandle {
  const members: Pick<LeaseHandle, LeaseMember> = {
    get leaseSeconds () { return keeper.leaseSeconds },
    get renewals () { return keeper.renewals },
    get expiresAt () { return keeper.expiresAt },
    renew: async signal => { await keeper.renewNow(signal) },
    close: async o => await keeper.close(o),
    [Symbol.asyncDispose]: async () => { await keeper.close() }
  }
  return Object.defineProperties(fixed, Object.getOwnPropertyDescriptors(members)) as T & LeaseHandle
}

type LeaseMember = 'leaseSeconds' | 'renewals' | 'expiresAt' | 'renew' | 'close' | typeof Symbol.asyncDispose

/**
 * Maps a port on the router and keeps the lease alive (renewal at `renewFraction` of the
 * lease) until close(), which deletes it.
 *
 * @example
 * ```ts
 * const m = await mapPort({ internalPort: 9484, leaseSeconds: 600, discover: { gateways: ['http://192.168.1.1:5000/rootDesc.xml'] } })
 * console.log(`${m.externalIp}:${m.externalPort}`)
 * await m.close()
 * ```
 */
export async function mapPort (options: MapPortOptions): Promise<PortMappingHandle> {
  const log = options.logger ?? silentLogger()
  let gateway = options.gateway
  if (gateway === undefined) {
    const found = await discoverGateways({ ...options.discover, ipv6: false, logger: log, ...(options.signal === undefined ? {} : { signal: options.signal }) })
    gateway = found.upnp ?? found.natPmp?.gateway
    if (gateway === undefined) throw new ToolkitError(ErrorCode.PortMapUnavailable, `no port-mapping gateway found (${Object.entries(found.errors).map(([k, v]) => `${k}: ${v}`).join('; ')})`)
  }
  const gw = gateway
  const protocol = options.protocol ?? 'tcp'
  const internalHost = options.internalHost ?? await sourceAddressToward(gw.info.address, options.signal)
  const requestedLease = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS
  const request = {
    internalHost,
    internalPort: options.internalPort,
    externalPort: options.externalPort ?? options.internalPort,
    protocol,
    leaseSeconds: requestedLease,
    description: options.description ?? `iicp-nat ${options.internalPort}`
  }
  const grant = await gw.addPortMapping(request, options.signal === undefined ? {} : { signal: options.signal })
  let externalIp: string | undefined
  try {
    const ip = await gw.externalIp(options.signal === undefined ? {} : { signal: options.signal })
    externalIp = tryParseIp(ip)?.address
  } catch (err) {
    log.debug({ err: errorMessage(err) }, 'external address unavailable')
  }
  const key = { externalPort: grant.externalPort, internalPort: options.internalPort, protocol, internalHost }
  const label = `${protocol} ${formatHostPort(externalIp ?? '?', grant.externalPort)} -> ${formatHostPort(internalHost, options.internalPort)}`
  const keeper: LeaseKeeper = createLeaseKeeper({
    leaseSeconds: grant.leaseSeconds,
    renew: async signal => (await gw.addPortMapping({ ...request, externalPort: grant.externalPort, leaseSeconds: requestedLease }, { signal })).leaseSeconds,
    remove: async signal => { await gw.deletePortMapping(key, { signal }) },
    label,
    ...renewalOptions(options),
    logger: log
  })
  log.info({ gateway: gw.info.protocol, lease: grant.leaseSeconds }, `mapped ${label}`)
  return leaseHandle({
    gateway: gw.info,
    protocol,
    internalHost,
    internalPort: options.internalPort,
    externalPort: grant.externalPort,
    externalIp
  }, keeper)
}

/** The renewal tuning set in `options` (undefined values left out), for the keeper. */
function renewalOptions (options: LeaseRenewalOptions): LeaseRenewalOptions {
  return pick(options, ['renewFraction', 'minRenewIntervalMs', 'callTimeoutMs', 'onRenew', 'logger'])
}

function pick<T extends object, K extends keyof T> (obj: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k]
  return out
}

/** Options for {@link openPinhole}. */
export interface OpenPinholeOptions extends LeaseRenewalOptions {
  /** An IGD gateway with IPv6 firewall control (reached over IPv6). */
  gateway: Gateway
  /** This host's global IPv6 address. */
  internalClient: string
  /** Local port. */
  internalPort: number
  /** Protocol. @default 'tcp' */
  protocol?: MapProtocol
  /** Lease in seconds (1-86400). @default 3600 */
  leaseSeconds?: number
  /** Cancels the initial AddPinhole (not the renewals: close() stops those). */
  signal?: AbortSignal
}

/** A live IPv6 pinhole renewed with UpdatePinhole until closed (DeletePinhole). */
export interface PinholeHandle extends LeaseHandle {
  /** The pinhole's UniqueID on the router. */
  readonly uniqueId: number
  /** IPv6 address the pinhole admits traffic to. */
  readonly internalClient: string
}

/** Opens an IPv6 firewall pinhole (AddPinhole) and keeps it alive (UpdatePinhole) until close(). */
export async function openPinhole (options: OpenPinholeOptions): Promise<PinholeHandle> {
  const gw = options.gateway
  const { addPinhole, updatePinhole, deletePinhole } = gw
  if (addPinhole === undefined || updatePinhole === undefined || deletePinhole === undefined) {
    throw new ToolkitError(ErrorCode.PortMapUnavailable, `${gw.info.location ?? gw.info.address} offers no IPv6 firewall control`)
  }
  const ip = tryParseIp(options.internalClient)
  if (ip?.family !== 6) throw new ToolkitError(ErrorCode.InvalidAddress, `a pinhole needs an IPv6 address, got "${options.internalClient}"`)
  const protocol = options.protocol ?? 'tcp'
  const lease = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS
  const uniqueId = await addPinhole({ internalClient: ip.address, internalPort: options.internalPort, protocol, leaseSeconds: lease }, options.signal === undefined ? {} : { signal: options.signal })
  const label = `pinhole ${uniqueId} ${protocol} ${formatHostPort(ip.address, options.internalPort)}`
  const keeper = createLeaseKeeper({
    leaseSeconds: lease,
    renew: async signal => {
      await updatePinhole(uniqueId, lease, { signal })
      return lease
    },
    remove: async signal => { await deletePinhole(uniqueId, { signal }) },
    label,
    ...renewalOptions(options)
  })
  options.logger?.info({ lease }, `opened ${label}`)
  return leaseHandle({ uniqueId, internalClient: ip.address, internalPort: options.internalPort, protocol }, keeper)
}
