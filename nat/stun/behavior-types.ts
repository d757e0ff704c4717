/**
 * The public shapes of NAT behaviour discovery ({@link discoverNatBehavior} in behavior.ts):
 * its options, per-server outcomes, confidence and result.
 */
import type { TransportAddress } from './attributes.ts'
import type { NatBehavior } from './behavior-classify.ts'

/** A STUN server to probe: an IP literal (no DNS is done here) and a UDP port. */
export interface StunServerAddress {
  /** IP literal. */
  host: string
  /** UDP port. */
  port: number
}

/** Options for `discoverNatBehavior`. */
export interface NatBehaviorOptions {
  /** Servers in order of preference; the first one is the RFC 5780 server (put a two-address server first). */
  servers: StunServerAddress[]
  /** Local IP to bind the probe sockets to. @default the family's wildcard */
  localAddress?: string
  /** Address family; servers of the other family are skipped. @default the first server's family */
  family?: 4 | 6
  /** Overall deadline in ms. @default 2500 */
  timeoutMs?: number
  /** Initial STUN retransmission timeout in ms. @default 500 */
  rtoMs?: number
  /** Cancels the discovery (rejects with ERR_ABORTED). */
  signal?: AbortSignal
  /** Run the hairpinning test. @default true */
  hairpin?: boolean
}

/** Per-server outcome. */
export interface NatBehaviorServerResult {
  /** `ip:port` of the server. */
  server: string
  /** True when the server answered (success or error response) to mapping test I. */
  responded: boolean
  /** Reflexive address it reported. */
  mapped?: string
  /** Its OTHER-ADDRESS, if any. */
  otherAddress?: string
  /** Round-trip time of test I. */
  rttMs?: number
  /** Why it gave no mapped address. */
  error?: string
}

/** How firmly the filtering verdict stands. */
export interface NatBehaviorConfidence {
  /** `high`: it rests on an answer, or every round agreed; `low`: rounds disagreed or only one ran; `none`: not measured. */
  filtering: 'high' | 'low' | 'none'
  /** Filtering rounds run. */
  filteringRounds: number
  /** Rounds whose own verdict equals the final one. */
  filteringAgreeing: number
}

/** The measured NAT behaviour. */
export interface NatBehaviorResult {
  /** True when no server answered within the deadline and at least two servers were asked: UDP is blocked. */
  udpBlocked: boolean
  /** True when no server answered but fewer than two were asked: the server may simply be down. */
  serversUnreachable: boolean
  /** How firmly the filtering verdict stands. */
  confidence: NatBehaviorConfidence
  /** The mapping socket's bound address. */
  local?: TransportAddress
  /** Reflexive address from the first answering server. */
  mapped?: TransportAddress
  /** The RFC 5780 server's OTHER-ADDRESS. */
  otherAddress?: TransportAddress
  /** Mapping behaviour; 'none' when the reflexive address is a local address. */
  mapping: NatBehavior
  /** Filtering behaviour (RFC 5780 tests II/III); 'unknown' without an RFC 5780 server. */
  filtering: NatBehavior
  /** Whether a packet from a second socket to the reflexive address reached the mapping socket. */
  hairpinning: boolean | undefined
  /** Whether the reflexive port equals the local port. */
  portPreserving: boolean | undefined
  /** How the mapping was classified. */
  method: 'rfc5780' | 'two_servers' | 'none'
  /** Per-server outcomes, in the order given. */
  servers: NatBehaviorServerResult[]
  /** Human-readable explanations and caveats. */
  notes: string[]
}
