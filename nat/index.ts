/**
 * The measuring NAT module (`iicp-relay-toolkit/nat`): network probe and classification into
 * the eight ADR-043 exposure modes, UPnP-IGD / NAT-PMP port mapping with renewing leases and
 * IPv6 pinholes, a dial-back reflector (server and client), strict address helpers, and the
 * STUN (RFC 5389/5780) client and server.
 *
 * @example
 * ```ts
 * import { probeNetwork } from 'iicp-relay-toolkit/nat'
 * const report = await probeNetwork({ stunServers: [{ host: '198.51.100.7', port: 3478 }], reflectors: ['https://relay.example'] })
 * console.log(report.exposure_mode, report.verification)
 * ```
 */
export * from './stun/index.ts'

export {
  canonicalIp, classifyIp, formatHostPort, isCarrierGradeNat, isGlobalIPv6, isPrivateIPv4, isPublicIPv4,
  parseHostPort, parseIp, sameIp, tryParseIp, urlHost
} from './net/addr.ts'
export type { AddressRange, HostPort, IpFamily, ParseHostPortOptions, ParsedIp } from './net/addr.ts'

export {
  decodeIpv6Flags, defaultGatewayV4, isEui64, listLocalAddresses, parseDefaultGatewayV4, parseIfInet6,
  publicOnInterface, rankServingIpv6, sourceAddressToward
} from './net/interfaces.ts'
export type { IfInet6Entry, InterfaceSources, Ipv6AddressFlags, LocalAddress, PublicOnInterface } from './net/interfaces.ts'

export { DEFAULT_DISCOVERY_TIMEOUT_MS, DEFAULT_LEASE_SECONDS, discoverGateways, mapPort, openPinhole } from './portmap/portmap.ts'
export type {
  DiscoverGatewaysOptions, DiscoveredGateways, MapPortOptions, OpenPinholeOptions, PinholeHandle, PortMappingHandle
} from './portmap/portmap.ts'
export type {
  FirewallStatus, Gateway, GatewayCallOptions, GatewayInfo, GatewayProtocol, MapProtocol, PinholeRequest,
  PortMappingGrant, PortMappingKey, PortMappingRequest
} from './portmap/types.ts'
export { createUpnpGateway, fetchIgdDescription, parseIgdDescription, soapCall, upnpErrorCode } from './portmap/upnp-igd.ts'
export type { IgdDescription, IgdService, SoapCallOptions, UpnpGatewayOptions } from './portmap/upnp-igd.ts'
export { FIREWALL_SEARCH_TARGET, IGD_SEARCH_TARGETS, parseSsdpResponse, ssdpSearch } from './portmap/upnp-ssdp.ts'
export type { SsdpResponse, SsdpSearchOptions } from './portmap/upnp-ssdp.ts'
export { NAT_PMP_PORT, createNatPmpGateway } from './portmap/natpmp.ts'
export type { NatPmpGatewayOptions } from './portmap/natpmp.ts'
export { createLeaseKeeper } from './portmap/lease-keeper.ts'
export type { LeaseKeeper, LeaseKeeperOptions } from './portmap/lease-keeper.ts'

export {
  DIALBACK_GREETING, DIALBACK_PATH, createDialbackRoute, createReflectorServer
} from './reflector/server.ts'
export type { DialbackAnswer, DialbackRoute, ReflectorOptions, ReflectorServer, ReflectorServerOptions } from './reflector/server.ts'
export { verifyReachability } from './reflector/client.ts'
export type { ReachabilityCheck, VerifyReachabilityOptions } from './reflector/client.ts'

export { DIRECT_MODES, EXPOSURE_MODES, cgnatEvidence, classify, effectiveReflectorOutcome, exitCodeFor, natTypeFrom } from './classify/classify.ts'
export type {
  CgnatEvidence, Classification, ClassifyInput, DirectState, ExposureMode, NatBehaviorValue, NatType,
  ReflectorOutcome, TransportMethod
} from './classify/classify.ts'
export { compatBlock, qualifyProfile, upstreamProfile } from './classify/compat.ts'
export type { CompatBlock, CompatView, QualifyVariant, ServiceQualification, UpstreamIpv6Profile, UpstreamNatProfile, UpstreamTransportMethod } from './classify/compat.ts'

export { DEFAULT_STUN_SERVERS } from './stun/default-servers.ts'
export type { StunServerSpec } from './stun/default-servers.ts'
export { DEFAULT_MAP_PROBE_TIMEOUT_MS, DEFAULT_PROBE_PORT, DEFAULT_PROBE_TIMEOUT_MS, PROBE_MAPPING_LEASE_S, probeNetwork } from './probe/probe.ts'
export type { ProbeDeps, ProbeOptions } from './probe/probe.ts'
export { PROBE_SCHEMA_ID } from './probe/schema.ts'
export type {
  ProbeInputs, ProbeIpv4, ProbeIpv6, ProbeIpv6Address, ProbeLocalAddress, ProbeMapping, ProbeNatBehavior,
  ProbePortMapping, ProbeReachabilityCheck, ProbeReport, ProbeStunServer, WanIpSource
} from './probe/schema.ts'
