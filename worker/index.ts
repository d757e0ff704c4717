/**
 * The IICP relay worker: dials a relay, binds a worker id, serves tasks pushed through the
 * relay tunnel, keeps the session alive and reconnects with back-off.
 *
 * @example
 * ```ts
 * import { createWorker } from 'iicp-relay-toolkit/worker'
 * const worker = createWorker({ relayHost: '127.0.0.1', relayPort: 9485, workerId: 'w-1', backendUrl: 'http://127.0.0.1:8080' })
 * await worker.start()
 * console.log((await worker.whenBound()).endpoint)
 * ```
 */
export { createWorker } from './worker.ts'
export type { Worker, WorkerEvents } from './api.ts'
export { DEFAULT_MAX_QUEUED, relayForEndpoint } from './options.ts'
export type {
  BackoffInfo, BindInfo, DisconnectInfo, DisconnectReason, ReconnectOptions, RegisterOptions, Task, TaskAnswer, TaskContext,
  TaskHandler, TicketDirectoryOptions, WorkerOptions, WorkerState
} from './options.ts'
export { CAPACITY_ERROR } from './task-runner.ts'
export { STOPPING_ERROR } from './session.ts'
export { createBackendHandler, backendErrorMessage } from './backend-handler.ts'
export type { BackendHandler, BackendHandlerOptions } from './backend-handler.ts'
export { fetchBindTicket } from './ticket-fetch.ts'
export type { FetchTicketOptions } from './ticket-fetch.ts'
export { buildRegistrationPayload, reRegister } from './directory-registration.ts'
export type { ReRegisterOptions } from './directory-registration.ts'
export type { WorkerTransportOptions } from './transports/dialer.ts'
export type { ProxySettings } from './transports/proxy.ts'
export type { RelayTarget, TransportMode } from './transports/targets.ts'
// The reachability ladder (`iicp-worker --auto`): give it nat's capabilities (`natCapabilities()` from `iicp-relay-toolkit/nat`).
export { createReachNode } from './reach/node.ts'
export type { ReachDirectoryOptions, ReachNode, ReachNodeEvents, ReachNodeOptions } from './reach/node.ts'
export type { LadderTimings, Transition } from './reach/ladder.ts'
export type { ActiveRung, Rung, RungLine } from './reach/rungs.ts'
export type { RelayCandidate } from './reach/relay-choice.ts'
export type { DirectoryNatType, HeldLease, HeldMapping, LeaseRequest, LocalPublicAddresses, ReachCapabilities, VerifyRequest, VerifyResult } from '../src/reach/capabilities.ts'
