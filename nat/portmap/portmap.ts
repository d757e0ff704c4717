/**
 * Port mapping: map a port with a renewing lease and open IPv6 pinholes, on a gateway found by
 * discovery (nat/portmap/discover.ts) or given, all behind the {@link Gateway} seam.
 */
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { tryParseIp } from '../net/addr.ts'
import { sourceAddressToward } from '../net/interfaces.ts'
import { discoverGateways, type DiscoverGatewaysOptions } from './discover.ts'
import { createLeaseKeeper, type LeaseKeeper, type LeaseRenewalOptions } from './lease-keeper.ts'
import type { Gateway, GatewayInfo, MapProtocol } from './types.ts'

/** Default lease for mappings and pinholes. */
export const DEFAULT_LEASE_SECONDS = 3600

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
