/**
 * nat/'s implementation of the reachability ladder's capabilities (the interface lives in
 * src/reach/capabilities.ts, so worker/ never imports nat/ and the composers in worker/bin/ pass
 * this in): interface addresses, the dial-back reflector client, UPnP-IGD / NAT-PMP mapping with
 * renewing leases, IGDv2 pinholes, and STUN behaviour discovery.
 */
import { errorMessage } from '../src/errors.ts'
import type { Logger } from '../src/log.ts'
import { natTypeFrom } from './classify/classify.ts'
import { listLocalAddresses, publicOnInterface, rankServingIpv6 } from './net/interfaces.ts'
import { discoverGateways } from './portmap/discover.ts'
import { mapPort, openPinhole } from './portmap/portmap.ts'
import { verifyReachability } from './reflector/client.ts'
import { discoverNatBehavior, type StunServerAddress } from './stun/behavior.ts'
import type { DirectoryNatType, HeldLease, LeaseRequest, ReachCapabilities } from '../src/reach/capabilities.ts'

/** Options for {@link natCapabilities}. */
export interface NatCapabilityOptions {
  /** Explicit gateways (IGD description URLs or IP literals) instead of SSDP / default-gateway discovery. */
  gateways?: string[]
  /** STUN servers for the NAT type (none: `unknown`). */
  stun?: StunServerAddress[]
  logger: Logger
}

function renewHook (request: LeaseRequest): (r: { ok: boolean, error?: unknown }) => void {
  return r => { request.onRenew(r.ok, r.ok ? undefined : errorMessage(r.error)) }
}

function held<T extends object> (kind: string, handle: { readonly leaseSeconds: number, readonly renewals: number, readonly expiresAt: number | undefined, close: () => Promise<unknown> }, extra: T): HeldLease & T {
  return Object.assign(Object.create(null), extra, {
    kind,
    get leaseSeconds () { return handle.leaseSeconds },
    get renewals () { return handle.renewals },
    get expiresAt () { return handle.expiresAt },
    close: async () => { await handle.close().catch(() => undefined) }
  }) as HeldLease & T
}

/** nat/'s capabilities for `createReachNode` (worker/reach/node.ts). */
export function natCapabilities (o: NatCapabilityOptions): ReachCapabilities {
  const gateways = o.gateways ?? []
  const discover = (timeoutMs: number) => gateways.length > 0 ? { gateways, timeoutMs } : { timeoutMs }
  return {
    localAddresses: () => {
      const all = listLocalAddresses()
      const pub = publicOnInterface(all)
      return { ipv4: pub.ipv4, ipv6: rankServingIpv6(all).map(a => a.address).filter(a => pub.ipv6.includes(a)) }
    },
    verify: async r => {
      const check = await verifyReachability({
        reflector: r.reflector, port: r.port, family: r.family, timeoutMs: r.timeoutMs, signal: r.signal, awaitGreeting: r.awaitGreeting
      })
      return { reachable: check.reachable, observedAddress: check.observed_address, error: check.error }
    },
    mapPort: async r => {
      const handle = await mapPort({
        internalPort: r.internalPort,
        leaseSeconds: r.leaseSeconds,
        description: `iicp-worker ${r.internalPort}`,
        discover: discover(Math.max(100, r.timeoutMs - 200)),
        onRenew: renewHook(r),
        logger: o.logger,
        signal: AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)])
      })
      return held(handle.gateway.protocol, handle, { externalIp: handle.externalIp, externalPort: handle.externalPort })
    },
    openPinhole: async r => {
      const signal = AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)])
      const found = await discoverGateways({ ...discover(Math.max(100, r.timeoutMs - 200)), natPmp: false, ipv6: true, signal, logger: o.logger })
      if (found.upnpIpv6 === undefined) throw new Error(`no IGDv2 firewall answered (${found.errors.upnp6 ?? 'none found'})`)
      const handle = await openPinhole({ gateway: found.upnpIpv6, internalClient: r.address, internalPort: r.internalPort, leaseSeconds: r.leaseSeconds, onRenew: renewHook(r), logger: o.logger, signal })
      return held('pinhole', handle, {})
    },
    natType: async (signal): Promise<DirectoryNatType> => {
      const servers = o.stun ?? []
      if (servers.length === 0) return 'unknown'
      const nat = await discoverNatBehavior({ servers, signal, hairpin: false })
      const t = natTypeFrom({ udpBlocked: nat.udpBlocked, mapping: nat.mapping, filtering: nat.filtering })
      return t === 'direct' ? 'unknown' : t
    }
  }
}
