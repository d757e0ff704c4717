/**
 * An in-memory {@link Gateway} for classification, lease and probe tests: it records every
 * call, holds mappings and pinholes with their leases, and can be told to fail.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import type { Gateway, GatewayInfo, PinholeRequest, PortMappingRequest } from '../../nat/index.ts'

/** Options for {@link createFakeGateway}. */
export interface FakeGatewayOptions {
  /** WAN address reported. @default '203.0.113.10' */
  externalIp?: string
  /** Protocol reported in info. @default 'upnp-igd' */
  protocol?: GatewayInfo['protocol']
  /** Lease granted (seconds; fractions allowed for fast tests). @default the requested lease */
  grantLeaseSeconds?: number
  /** Offer IPv6 pinhole methods. @default false */
  pinholes?: boolean
  /** InboundPinholeAllowed. @default true */
  inboundPinholeAllowed?: boolean
}

/** A recorded call. */
export interface FakeGatewayCall {
  method: string
  at: number
  args: unknown[]
}

/** The fake plus its inspection handles. */
export interface FakeGateway extends Gateway {
  /** Every call, in order. */
  calls: FakeGatewayCall[]
  /** Live mappings by `protocol/externalPort`, with expiry time. */
  mappings: Map<string, { request: PortMappingRequest, expiresAt: number }>
  /** Live pinholes by id. */
  pinholes: Map<number, { request: PinholeRequest, expiresAt: number }>
  /** Names of methods that should throw ERR_PORTMAP_FAILED from now on. */
  failing: Set<string>
  /** Resolves when `method` has been called `count` times in total. */
  waitForCalls: (method: string, count: number) => Promise<void>
}

/** Creates a fake gateway. */
export function createFakeGateway (options: FakeGatewayOptions = {}): FakeGateway {
  const calls: FakeGatewayCall[] = []
  const mappings = new Map<string, { request: PortMappingRequest, expiresAt: number }>()
  const pinholes = new Map<number, { request: PinholeRequest, expiresAt: number }>()
  const failing = new Set<string>()
  const waiters: Array<{ method: string, count: number, resolve: () => void }> = []
  let nextId = 1
  // Every fake call yields once, like a real round trip, then records (and maybe fails).
  const record = async (method: string, args: unknown[]): Promise<void> => {
    await Promise.resolve()
    calls.push({ method, at: Date.now(), args })
    for (const w of [...waiters]) {
      if (calls.filter(c => c.method === w.method).length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
    if (failing.has(method)) throw new ToolkitError(ErrorCode.PortMapFailed, `fake ${method} failure`, { details: { upnpErrorCode: 501 } })
  }
  const info: GatewayInfo = { protocol: options.protocol ?? 'upnp-igd', address: '127.0.0.1', location: 'http://127.0.0.1:1/fake.xml', friendlyName: 'fake gateway', serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2', ipv6Firewall: options.pinholes === true }
  const gw: FakeGateway = {
    info,
    calls,
    mappings,
    pinholes,
    failing,
    waitForCalls: async (method, count) => {
      if (calls.filter(c => c.method === method).length >= count) return
      await new Promise<void>(resolve => { waiters.push({ method, count, resolve }) })
    },
    async externalIp () {
      await record('externalIp', [])
      return options.externalIp ?? '203.0.113.10'
    },
    async addPortMapping (r) {
      await record('addPortMapping', [r])
      const lease = options.grantLeaseSeconds ?? r.leaseSeconds
      mappings.set(`${r.protocol}/${r.externalPort}`, { request: r, expiresAt: Date.now() + lease * 1000 })
      return { externalPort: r.externalPort, leaseSeconds: lease }
    },
    async deletePortMapping (k) {
      await record('deletePortMapping', [k])
      mappings.delete(`${k.protocol}/${k.externalPort}`)
    }
  }
  if (options.pinholes === true) {
    gw.firewallStatus = async () => {
      await record('firewallStatus', [])
      return { firewallEnabled: true, inboundPinholeAllowed: options.inboundPinholeAllowed ?? true }
    }
    gw.addPinhole = async r => {
      await record('addPinhole', [r])
      const id = nextId++
      pinholes.set(id, { request: r, expiresAt: Date.now() + r.leaseSeconds * 1000 })
      return id
    }
    gw.updatePinhole = async (id, lease) => {
      await record('updatePinhole', [id, lease])
      const p = pinholes.get(id)
      if (p === undefined) throw new ToolkitError(ErrorCode.PortMapFailed, 'no such pinhole', { details: { upnpErrorCode: 704 } })
      p.expiresAt = Date.now() + lease * 1000
    }
    gw.deletePinhole = async id => {
      await record('deletePinhole', [id])
      pinholes.delete(id)
    }
  }
  return gw
}
