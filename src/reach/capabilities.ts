/**
 * The NAT capabilities the reachability ladder (worker/reach/) needs, as a shared interface:
 * nat/reach-capabilities.ts implements it, worker/ consumes it, and only the composers in
 * worker/bin/ put the two together (worker/ never imports nat/). Tests inject their own.
 */

/** `nat_type` values the directory accepts (directory-contract.md §3.1). */
export type DirectoryNatType = 'full_cone' | 'restricted_cone' | 'port_restricted' | 'symmetric' | 'unknown'

/** This host's routable addresses, as its interfaces list them. */
export interface LocalPublicAddresses {
  /** Public IPv4 addresses on an interface. */
  ipv4: string[]
  /** Global IPv6 addresses (stable ones first). */
  ipv6: string[]
}

/** One dial-back check of a port that the node's HTTP front already serves. */
export interface VerifyRequest {
  /** Reflector base URL. */
  reflector: string
  /** The port the reflector dials (the external port of a mapping, else the served port). */
  port: number
  /** Address family of the request to the reflector (decides which address it observes and dials). */
  family: 4 | 6
  /** Resolves with the peer address once `line` reached the front (see DirectFront.awaitGreeting). */
  awaitGreeting: (line: string, signal: AbortSignal) => Promise<string>
  /** Deadline of the whole check. */
  timeoutMs: number
  /** Cancels the check. */
  signal: AbortSignal
}

/** The outcome of a {@link VerifyRequest}. */
export interface VerifyResult {
  /** The reflector connected and our nonce arrived. */
  reachable: boolean
  /** Our address as the reflector saw it. */
  observedAddress: string | null
  /** Why not (or why the check failed). */
  error: string | null
}

/** A router lease (port mapping or pinhole) the ladder holds while on the mapped rung. */
export interface HeldLease {
  /** `upnp-igd`, `nat-pmp` or `pinhole`. */
  readonly kind: string
  /** Granted lease in seconds (0 = permanent). */
  readonly leaseSeconds: number
  /** Successful renewals so far. */
  readonly renewals: number
  /** When the lease runs out (ms since epoch), if it does. */
  readonly expiresAt: number | undefined
  /** Stops renewing and deletes it on the router. Never rejects. */
  close: () => Promise<void>
}

/** A held IPv4 port mapping. */
export interface HeldMapping extends HeldLease {
  /** The router's external address, when it says. */
  readonly externalIp: string | undefined
  /** The external port granted. */
  readonly externalPort: number
}

/** Lease options shared by mappings and pinholes. */
export interface LeaseRequest {
  /** Local port receiving the traffic. */
  internalPort: number
  /** Requested lease. */
  leaseSeconds: number
  /** Called after each renewal attempt; a failed one is a re-check trigger. */
  onRenew: (ok: boolean, error?: string) => void
  /** Deadline of the initial request (discovery included). */
  timeoutMs: number
  /** Cancels the initial request. */
  signal: AbortSignal
}

/** Everything the ladder asks of the NAT module. */
export interface ReachCapabilities {
  /** Public IPv4 and global IPv6 addresses on this host's interfaces. */
  localAddresses: () => LocalPublicAddresses
  /** Dial-back check through a reflector. Never rejects except on cancellation. */
  verify: (request: VerifyRequest) => Promise<VerifyResult>
  /** Maps `internalPort` on the gateway (UPnP-IGD, else NAT-PMP) with a renewing lease. Rejects when none answers. */
  mapPort: (request: LeaseRequest) => Promise<HeldMapping>
  /** Opens an IPv6 firewall pinhole for `address` on an IGDv2 gateway. Rejects when none offers one. */
  openPinhole?: (request: LeaseRequest & { address: string }) => Promise<HeldLease>
  /** The NAT type from STUN behaviour discovery, for the directory (`unknown` when not measured). */
  natType?: (signal: AbortSignal) => Promise<DirectoryNatType>
}
