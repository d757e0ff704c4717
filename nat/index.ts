/**
 * The measuring NAT module (`iicp-relay-toolkit/nat`): network probe and classification into
 * the eight ADR-043 exposure modes, UPnP-IGD / NAT-PMP port mapping with renewing leases and
 * IPv6 pinholes, a dial-back reflector (route, server and client), and the STUN (RFC 5389/5780)
 * client and server. The STUN codec is a separate entry point: `iicp-relay-toolkit/nat/stun`.
 *
 * @example
 * ```ts
 * import { probeNetwork } from 'iicp-relay-toolkit/nat'
 * const report = await probeNetwork({ stunServers: [{ host: '198.51.100.7', port: 3478 }], reflectors: ['https://relay.example'] })
 * console.log(report.exposure_mode, report.verification)
 * ```
 */

// Probe: measure, verify and classify this host's network.
export { DEFAULT_MAP_PROBE_TIMEOUT_MS, DEFAULT_PROBE_PORT, DEFAULT_PROBE_TIMEOUT_MS, probeNetwork } from './probe/probe.ts'
export type { ProbeDeps, ProbeOptions } from './probe/probe.ts'
export { PROBE_SCHEMA_ID } from './probe/schema.ts'
export type {
  ProbeInputs, ProbeIpv4, ProbeIpv6, ProbeIpv6Address, ProbeLocalAddress, ProbeMapping, ProbeNatBehavior,
  ProbePortMapping, ProbeReachabilityCheck, ProbeReport, ProbeStunServer, WanIpSource
} from './probe/schema.ts'

// Classification of measurements (pure), and what the upstream SDKs would report.
export { EXPOSURE_MODES, classify, exitCodeFor } from './classify/classify.ts'
export type {
  CgnatEvidence, Classification, ClassifyInput, DirectState, ExposureMode, NatType, ReflectorOutcome, TransportMethod
} from './classify/classify.ts'
export type { CompatBlock, CompatView, ServiceQualification, UpstreamIpv6Profile, UpstreamNatProfile, UpstreamTransportMethod } from './classify/compat.ts'

// Router port mapping (UPnP-IGD, NAT-PMP) and IPv6 pinholes with renewing leases.
export { discoverGateways } from './portmap/discover.ts'
export type { DiscoverGatewaysOptions, DiscoveredGateways } from './portmap/discover.ts'
export { mapPort, openPinhole } from './portmap/portmap.ts'
export type { LeaseHandle, MapPortOptions, OpenPinholeOptions, PinholeHandle, PortMappingHandle } from './portmap/portmap.ts'
export type {
  FirewallStatus, Gateway, GatewayCallOptions, GatewayInfo, GatewayProtocol, MapProtocol, PinholeRequest,
  PortMappingGrant, PortMappingKey, PortMappingRequest
} from './portmap/types.ts'

// Dial-back reflector: the relay extension route, a standalone server, and the client.
export { DIALBACK_PATH } from './reflector/dialback.ts'
export { createDialbackRoute } from './reflector/route.ts'
export type { DialbackAnswer, DialbackRoute, ReflectorOptions } from './reflector/route.ts'
export { createReflectorServer } from './reflector/server.ts'
export { NAT_INFO_PATH, createNatInfoRoute } from './reflector/info.ts'
export type { NatInfo, NatInfoSource, NatInfoStun } from './reflector/info.ts'
export type { ReflectorServer, ReflectorServerOptions } from './reflector/server.ts'
export { verifyReachability } from './reflector/client.ts'
export type { ReachabilityCheck, VerifyReachabilityOptions } from './reflector/client.ts'

// STUN client and server (the codec is in `iicp-relay-toolkit/nat/stun`).
export { stunBinding } from './stun/binding.ts'
export type { StunBindingOptions, StunBindingResult } from './stun/binding.ts'
export { discoverNatBehavior } from './stun/behavior.ts'
export type { NatBehavior, NatBehaviorOptions, NatBehaviorResult, NatBehaviorServerResult, StunServerAddress } from './stun/behavior.ts'
export { createStunServer } from './stun/server.ts'
export type { StunRateLimit, StunServer, StunServerInfo, StunServerOptions, StunServerStats } from './stun/server.ts'
export { formatAddress } from './stun/attributes.ts'
export type { TransportAddress } from './stun/attributes.ts'
export { DEFAULT_STUN_SERVERS } from './stun/default-servers.ts'
export type { StunServerSpec } from './stun/default-servers.ts'

// The reachability ladder's NAT capabilities (pass to createReachNode from `iicp-relay-toolkit/worker`).
export { natCapabilities } from './reach-capabilities.ts'
export type { NatCapabilityOptions } from './reach-capabilities.ts'
