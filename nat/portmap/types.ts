/**
 * The `Gateway` seam: everything the port-mapping code needs from a router, whatever the
 * protocol (UPnP-IGD or NAT-PMP). Classification and probe tests inject a fake here.
 */

/** Transport protocol of a mapping or pinhole. */
export type MapProtocol = 'tcp' | 'udp'

/** Which protocol a gateway speaks. */
export type GatewayProtocol = 'upnp-igd' | 'nat-pmp'

/** Descriptive facts about a discovered gateway (reported by the probe). */
export interface GatewayInfo {
  /** Protocol used to talk to the gateway. */
  protocol: GatewayProtocol
  /** Gateway IP address (UPnP: the host of the description URL). */
  address: string
  /** UPnP: device description URL. */
  location?: string
  /** UPnP: root device type, e.g. `urn:schemas-upnp-org:device:InternetGatewayDevice:2`. */
  deviceType?: string
  /** UPnP: the WAN connection service used, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`. */
  serviceType?: string
  /** UPnP: the device's friendly name. */
  friendlyName?: string
  /** UPnP: the description offers WANIPv6FirewallControl (IPv6 pinholes). */
  ipv6Firewall?: boolean
}

/** Common per-call options. */
export interface GatewayCallOptions {
  /** Cancels the call. */
  signal?: AbortSignal
}

/** An IPv4 port-mapping request. */
export interface PortMappingRequest {
  /** LAN address that receives the traffic. */
  internalHost: string
  /** LAN port that receives the traffic. */
  internalPort: number
  /** Requested external port (the gateway may assign another). */
  externalPort: number
  /** Transport protocol. */
  protocol: MapProtocol
  /** Requested lease in seconds; 0 asks for a permanent mapping (UPnP; NAT-PMP uses 7200 instead). */
  leaseSeconds: number
  /** Description shown in the router's mapping table. */
  description: string
}

/** What the gateway granted. */
export interface PortMappingGrant {
  /** External port actually mapped. */
  externalPort: number
  /** Lease actually granted in seconds (0 = permanent). */
  leaseSeconds: number
}

/** Identifies a mapping to delete. */
export interface PortMappingKey {
  /** External port of the mapping. */
  externalPort: number
  /** Internal port (NAT-PMP deletes by internal port). */
  internalPort: number
  /** Transport protocol. */
  protocol: MapProtocol
  /** LAN address the mapping was made for (NAT-PMP must delete from the same source address). */
  internalHost?: string
}

/** IPv6 firewall state reported by WANIPv6FirewallControl `GetFirewallStatus`. */
export interface FirewallStatus {
  /** The router's IPv6 firewall is on. */
  firewallEnabled: boolean
  /** The router claims to accept AddPinhole (unreliable on some routers, e.g. FRITZ!Box). */
  inboundPinholeAllowed: boolean
}

/** An IPv6 inbound pinhole request (WANIPv6FirewallControl `AddPinhole`). */
export interface PinholeRequest {
  /** Global IPv6 address of this host that receives the traffic. */
  internalClient: string
  /** Port on this host. */
  internalPort: number
  /** Transport protocol. */
  protocol: MapProtocol
  /** Lease in seconds (the service allows 1-86400). */
  leaseSeconds: number
  /** Remote host allowed in; empty for any. @default '' */
  remoteHost?: string
  /** Remote port allowed in; 0 for any. @default 0 */
  remotePort?: number
}

/**
 * A router that can report its external address and create, renew and delete port
 * mappings, and optionally IPv6 pinholes. Implementations: UPnP-IGD (nat/upnp-igd.ts),
 * NAT-PMP (nat/natpmp.ts), and the tests' fake gateway.
 */
export interface Gateway {
  /** Descriptive facts for reports. */
  readonly info: GatewayInfo
  /** The gateway's external (WAN) IPv4 address as it reports it. */
  externalIp (options?: GatewayCallOptions): Promise<string>
  /** Creates or refreshes a mapping (same request again renews the lease). */
  addPortMapping (request: PortMappingRequest, options?: GatewayCallOptions): Promise<PortMappingGrant>
  /** Deletes a mapping. */
  deletePortMapping (key: PortMappingKey, options?: GatewayCallOptions): Promise<void>
  /** IPv6 firewall status; absent when the gateway has no IPv6 firewall control. */
  firewallStatus?: (options?: GatewayCallOptions) => Promise<FirewallStatus>
  /** Opens an IPv6 pinhole and returns its UniqueID. */
  addPinhole?: (request: PinholeRequest, options?: GatewayCallOptions) => Promise<number>
  /** Extends a pinhole's lease. */
  updatePinhole?: (uniqueId: number, leaseSeconds: number, options?: GatewayCallOptions) => Promise<void>
  /** Deletes a pinhole. */
  deletePinhole?: (uniqueId: number, options?: GatewayCallOptions) => Promise<void>
}
