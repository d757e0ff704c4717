/**
 * The probe's router steps: discover UPnP-IGD / NAT-PMP (read-only: external address and IPv6
 * firewall status), and with `--map` create the IPv4 mapping and IPv6 pinhole that the
 * reflector then verifies.
 */
import { deadline } from '../../src/abort.ts'
import { ErrorCode, errorMessage } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import { tryParseIp } from '../net/addr.ts'
import { discoverGateways, type DiscoverGatewaysOptions, type DiscoveredGateways } from '../portmap/discover.ts'
import { mapPort, openPinhole, type PinholeHandle, type PortMappingHandle } from '../portmap/portmap.ts'
import type { ProbeIpv6, ProbePortMapping } from './schema.ts'

/** The discovery function (injectable: tests pass a fake gateway at this seam). */
export type DiscoverGatewaysFn = (options: DiscoverGatewaysOptions) => Promise<DiscoveredGateways>

/** Result of the read-only router step. */
export interface GatewayProbeResult {
  /** What was found (undefined when the step was disabled). */
  discovered: DiscoveredGateways | undefined
  /** The `port_mapping` section (mappings filled in later). */
  section: ProbePortMapping
  /** WAN address and which protocol reported it. */
  wan?: { ip: string, source: 'igd' | 'natpmp' }
  /** The `ipv6.firewall` value. */
  firewall: ProbeIpv6['firewall']
  /** Gateways that answered but report no public WAN address. */
  withoutWan: Array<{ source: 'igd' | 'natpmp', detail: string }>
}

/** An empty `port_mapping` section. */
export function emptyPortMapping (error: string | null): ProbePortMapping {
  return { protocol: null, igd: null, natpmp: null, external_ip: null, mappings: [], error, discovery_errors: {} }
}

/** Runs `call` under its own deadline; a deadline or failure becomes an error string, only cancellation (`cancel`) throws. */
async function bounded<T> (ms: number, cancel: AbortSignal | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<{ value: T } | { error: string }> {
  const dl = deadline(ms, cancel, ErrorCode.PortMapUnavailable, `no answer within ${ms} ms`)
  try {
    return { value: await call(dl.signal) }
  } catch (err) {
    if (cancel?.aborted === true) throw err
    return { error: errorMessage(err) }
  } finally {
    dl.clear()
  }
}

/**
 * Discovers gateways (within `timeoutMs`), then reads the UPnP external address and the IPv6
 * firewall status concurrently (within `callTimeoutMs`). Never throws except on cancellation
 * through `signal`.
 */
export async function runGatewayProbe (options: DiscoverGatewaysOptions & { discover?: DiscoverGatewaysFn, callTimeoutMs?: number }): Promise<GatewayProbeResult> {
  const signal = options.signal
  const callMs = options.callTimeoutMs ?? 1500
  let found: DiscoveredGateways
  try {
    found = await (options.discover ?? discoverGateways)(options)
  } catch (err) {
    if (signal?.aborted === true) throw err
    return { discovered: undefined, section: emptyPortMapping(errorMessage(err)), firewall: null, withoutWan: [] }
  }
  const withoutWan: GatewayProbeResult['withoutWan'] = []
  const section = emptyPortMapping(null)
  section.discovery_errors = { ...found.errors }
  const upnp = found.upnp
  const v6 = found.upnpIpv6
  const firewallStatus = v6?.firewallStatus
  const [ext, fw] = await Promise.all([
    upnp === undefined ? undefined : bounded(callMs, signal, async s => await upnp.externalIp({ signal: s })),
    firewallStatus === undefined ? undefined : bounded(callMs, signal, async s => await firewallStatus({ signal: s }))
  ])
  let wan: GatewayProbeResult['wan']
  if (upnp !== undefined) {
    const i = upnp.info
    section.protocol = 'upnp-igd'
    section.igd = { location: i.location ?? i.address, device_type: i.deviceType ?? null, service_type: i.serviceType ?? null, friendly_name: i.friendlyName ?? null, ipv6_firewall: i.ipv6Firewall === true }
    if (ext !== undefined && 'value' in ext) {
      const ip = tryParseIp(ext.value)
      if (ip !== undefined && ip.range !== 'unspecified') {
        wan = { ip: ip.address, source: 'igd' }
      } else {
        section.discovery_errors.upnp = `IGD reports no external address (${JSON.stringify(ext.value.slice(0, 64))})`
        withoutWan.push({ source: 'igd', detail: `the IGD reports no external address (${JSON.stringify(ext.value.slice(0, 64))})` })
      }
    } else if (ext !== undefined) {
      section.discovery_errors.upnp = `GetExternalIPAddress failed: ${ext.error}`
    }
  }
  if (found.natPmp !== undefined) {
    section.natpmp = { gateway: found.natPmp.gateway.info.address, external_ip: found.natPmp.externalIp }
    section.protocol ??= 'nat-pmp'
    const ip = tryParseIp(found.natPmp.externalIp)
    if (wan === undefined && ip !== undefined) wan = { ip: ip.address, source: 'natpmp' }
  }
  if (found.natPmpRefusal?.resultCode === 3) {
    withoutWan.push({ source: 'natpmp', detail: `the NAT-PMP gateway ${found.natPmpRefusal.gateway} answers "network failure" (result 3: it has no public address)` })
  }
  if (wan !== undefined) section.external_ip = wan.ip
  if (section.protocol === null) {
    const reasons = Object.entries(found.errors).filter(([k]) => k !== 'upnp6').map(([k, v]) => `${k}: ${v}`)
    section.error = reasons.length > 0 ? reasons.join('; ') : 'no port-mapping gateway found'
  }
  let firewall: ProbeIpv6['firewall'] = null
  if (v6 !== undefined && fw !== undefined) {
    firewall = { location: v6.info.location ?? v6.info.address, firewall_enabled: null, inbound_pinhole_allowed: null, error: null }
    if ('value' in fw) {
      firewall.firewall_enabled = fw.value.firewallEnabled
      firewall.inbound_pinhole_allowed = fw.value.inboundPinholeAllowed
    } else {
      firewall.error = fw.error
    }
  }
  const result: GatewayProbeResult = { discovered: found, section, firewall, withoutWan }
  if (wan !== undefined) result.wan = wan
  return result
}

/** Options for {@link createProbeMappings}. */
export interface ProbeMappingOptions {
  /** Gateways from {@link runGatewayProbe}. */
  discovered: DiscoveredGateways
  /** Port to map / open. */
  port: number
  /** Lease to request. */
  leaseSeconds: number
  /** Global IPv6 address to open a pinhole for; no pinhole when undefined. */
  ipv6Address?: string | undefined
  /** Deadline of the step; when it passes, what did not finish is reported as failed. */
  timeoutMs: number
  /** Cancels the step (rejects; anything already created is deleted). */
  signal?: AbortSignal
  /** Logger. */
  logger: Logger
}

/** Mappings created for verification. */
export interface ProbeMappings {
  /** IPv4 mapping, when one was granted. */
  mapping?: PortMappingHandle
  /** Why the IPv4 mapping failed. */
  mappingError?: string
  /** IPv6 pinhole, when one was opened. */
  pinhole?: PinholeHandle
  /** Why the pinhole failed. */
  pinholeError?: string
  /** The IPv6 gateway's description URL (for the removal command of a pinhole left behind). */
  pinholeLocation?: string
}

/** Creates the IPv4 mapping (UPnP preferred, NAT-PMP otherwise) and the IPv6 pinhole concurrently. */
export async function createProbeMappings (options: ProbeMappingOptions): Promise<ProbeMappings> {
  const out: ProbeMappings = {}
  const { discovered, logger } = options
  const cancel = options.signal
  const dl = deadline(options.timeoutMs, cancel, ErrorCode.PortMapFailed, `no answer within ${options.timeoutMs} ms`)
  const signal = dl.signal
  const gateway = discovered.upnp ?? discovered.natPmp?.gateway
  const v4 = async (): Promise<void> => {
    if (gateway === undefined) return
    try {
      out.mapping = await mapPort({
        gateway, internalPort: options.port, leaseSeconds: options.leaseSeconds, description: `iicp-nat probe ${options.port}`, logger, signal
      })
    } catch (err) {
      if (cancel?.aborted === true) throw err
      out.mappingError = errorMessage(err)
    }
  }
  const v6 = async (): Promise<void> => {
    const gw = discovered.upnpIpv6
    if (gw === undefined || options.ipv6Address === undefined) return
    try {
      if (gw.info.location !== undefined) out.pinholeLocation = gw.info.location
      out.pinhole = await openPinhole({
        gateway: gw, internalClient: options.ipv6Address, internalPort: options.port, leaseSeconds: options.leaseSeconds, logger, signal
      })
    } catch (err) {
      if (cancel?.aborted === true) throw err
      out.pinholeError = errorMessage(err)
    }
  }
  const settled = await Promise.allSettled([v4(), v6()])
  dl.clear()
  const failure = settled.find(r => r.status === 'rejected')
  if (failure !== undefined) {
    // Cancelled half-way: do not leave a mapping or pinhole behind.
    await Promise.all([out.mapping?.close(), out.pinhole?.close()])
    throw failure.reason
  }
  return out
}
