/**
 * The small ICE backend interface the direct-path code is written against: create an offer or
 * answer a peer's offer (ICE + DTLS + one reliable, ordered SCTP data channel), then exchange
 * bytes. The backend never reports failure promptly, so callers set their own connect deadline;
 * ICE restart is never used (a failed path is closed and a new peer is made).
 */

/** One ICE server in the WebRTC `RTCIceServer` shape (one URL per entry). */
export interface IceServer {
  /** `stun:host:port` or `turn:host:port` (UDP; `?transport=udp` allowed). */
  urls: string
  /** TURN username (coturn REST scheme: `expiry:id`). */
  username?: string
  /** TURN password. */
  credential?: string
}

/** A session description and the candidates gathered for it (also inside `sdp` when gathered in time). */
export interface SignalledDescription {
  /** SDP text; it carries the DTLS fingerprint, so only the signalling peer can complete DTLS. */
  sdp: string
  /** `a=candidate:` lines (without the `a=` prefix) gathered before the deadline. */
  candidates: string[]
}

/** Candidate type of one side of the selected pair. */
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay' | 'unknown'

/** The candidate pair ICE selected. */
export interface CandidatePair {
  local: { type: CandidateType, address: string, port: number }
  remote: { type: CandidateType, address: string, port: number }
}

/** Options for a new peer. */
export interface IcePeerOptions {
  /** STUN/TURN servers (may be empty: host candidates only). */
  iceServers: readonly IceServer[]
  /** How long to wait for candidate gathering before signalling what exists. */
  gatherTimeoutMs: number
  /** Use only relay (TURN) candidates (tests; a "TURN only" policy). @default false */
  relayOnly?: boolean
  /** Bind the ICE agent to one local address (tests on loopback). */
  bindAddress?: string
}

/** A reliable, ordered message channel between two peers (one SCTP stream). */
export interface PeerChannel {
  /** Largest message `send` accepts. */
  readonly maxMessageBytes: number
  /** Whether the channel still accepts messages. */
  readonly open: boolean
  /** Bytes queued and not yet handed to the network. */
  readonly bufferedBytes: number
  /** Queues one message; false when the channel is closed. */
  send: (message: Buffer) => boolean
  /** Called once `bufferedBytes` drops to or below `threshold` bytes (one pending call at a time). */
  onBufferedLow: (threshold: number, callback: () => void) => void
}

/** Callbacks of a peer; set before `connect()`. */
export interface IcePeerHandlers {
  /** A message arrived on the data channel. */
  onMessage: (message: Buffer) => void
  /** The peer connection or its channel closed or failed (called at most once, also after `close()`). */
  onClose: (reason: string) => void
}

/** One peer connection with its data channel. */
export interface IcePeer {
  /** This side's description, after gathering completed or its deadline passed. */
  readonly local: SignalledDescription
  /** Applies the remote description (the answer, on the offering side) and its candidates. */
  setRemote: (remote: SignalledDescription) => void
  /** Adds candidates that arrive after the description (trickle). */
  addRemoteCandidates: (candidates: readonly string[]) => void
  /** Resolves with the channel once open; rejects when `signal` fires first or the peer closed. */
  connect: (handlers: IcePeerHandlers, signal: AbortSignal) => Promise<PeerChannel>
  /** The selected candidate pair, once connected. */
  selectedPair: () => CandidatePair | undefined
  /** ICE round-trip time in milliseconds, when the backend knows it. */
  rttMs: () => number | undefined
  /** Closes the peer; idempotent; leaves no socket or timer behind. */
  close: () => void
}

/** Creates peers. The offering side calls `offer`, the answering side `answer`. */
export interface IceBackend {
  /** Backend name for status output (e.g. `node-datachannel`). */
  readonly name: string
  /** A new offering peer; resolves once its description is ready. */
  offer: (options: IcePeerOptions, signal: AbortSignal) => Promise<IcePeer>
  /** A new answering peer for `remote`; resolves once its description is ready. */
  answer: (remote: SignalledDescription, options: IcePeerOptions, signal: AbortSignal) => Promise<IcePeer>
  /** Frees process-wide resources once no peer is left (threads of the native library). */
  release: () => void
}
