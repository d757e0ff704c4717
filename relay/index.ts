/**
 * The IICP public relay-accept server: workers behind NAT dial in and bind (RELAY_BIND),
 * consumers call them over HTTP through `/v1/relay-for/{worker}/v1/task`.
 */
export { createRelay } from './relay.ts'
export type { Relay, RelayAddress } from './relay.ts'
export type { RelayOptions } from './options.ts'
export type { ExtensionRoute, ExtensionRouteContext, RouteReply } from '../src/http/route.ts'
export type { ForwardOptions, ForwardResult } from './forwarder.ts'
export type { BindOutcome, CallOutcome } from './metrics.ts'
export type { StreamViolationCode } from './lifecycle-sequence.ts'
export { BIND_REJECT_REASONS } from './admission.ts'
export { CORS_HEADERS, CORS_MAX_AGE_SECONDS } from './cors.ts'
export { createRedisFleet } from './fleet/index.ts'
export type { FleetBindRate, FleetOptions, MemberRecord, RedisFleet, UnavailableBindPolicy } from './fleet/index.ts'
export type { RelayFleet, SessionDirectory, RemoteCalls, BindRateLimiter } from './fleet-plugin.ts'
export type { RelayTransport } from './accept-server.ts'
export type { RelayTransportOptions } from './transports/options.ts'
export type { TlsFiles } from './transports/tls.ts'
