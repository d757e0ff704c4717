/**
 * Peers on node-datachannel (libdatachannel + libjuice): ICE, DTLS and one negotiated
 * SCTP data channel (id 0, reliable, ordered) per peer. libjuice speaks TURN over UDP only, so
 * TURN URLs with `transport=tcp` and `turns:` are skipped; UDP-blocked networks stay on the
 * IICP relay. The native library keeps threads until `cleanup()`, which {@link releaseIfIdle}
 * calls once no peer is left. Loaded on first use by the backend (node-datachannel.ts).
 */
import nodeDataChannel from 'node-datachannel'
import type { DataChannel, IceServer as NdcIceServer, PeerConnection, RtcConfig } from 'node-datachannel'
import { raceSignal } from '../../abort.ts'
import { ErrorCode, ToolkitError } from '../../errors.ts'
import { parseHostPort } from '../../host-port.ts'
import type {
  CandidatePair, CandidateType, IcePeer, IcePeerHandlers, IcePeerOptions, IceServer, PeerChannel, SignalledDescription
} from './types.ts'

const { PeerConnection: NativePeerConnection, cleanup } = nodeDataChannel

/** The data channel's label; both sides create it negotiated with id 0. */
const CHANNEL_LABEL = 'iicp'
const CANDIDATE_TYPES = new Set<CandidateType>(['host', 'srflx', 'prflx', 'relay'])

let livePeers = 0
let peerSerial = 0

/** The candidate type in an ICE candidate line (`… typ host …`). */
export function candidateTypeOf (candidate: string): CandidateType {
  const m = /\btyp\s+(\S+)/.exec(candidate)
  const t = m?.[1] as CandidateType | undefined
  return t !== undefined && CANDIDATE_TYPES.has(t) ? t : 'unknown'
}

/** Turns one WebRTC-style ICE server into node-datachannel's shape; undefined for what libjuice cannot use. */
export function toNativeIceServer (server: IceServer): NdcIceServer | undefined {
  const m = /^(stun|turn|turns):([^?]+)(?:\?transport=(udp|tcp))?$/i.exec(server.urls.trim())
  if (m === null) return undefined
  const scheme = (m[1] ?? '').toLowerCase()
  if (scheme === 'turns' || m[3]?.toLowerCase() === 'tcp') return undefined
  let host: string
  let port: number
  try {
    ({ host, port } = parseHostPort(m[2] ?? '', { defaultPort: 3478 }))
  } catch {
    return undefined
  }
  if (scheme === 'stun') return { hostname: host, port }
  if (server.username === undefined || server.credential === undefined) return undefined
  return { hostname: host, port, username: server.username, password: server.credential, relayType: 'TurnUdp' }
}

function rtcConfig (options: IcePeerOptions): RtcConfig {
  const iceServers = options.iceServers.map(toNativeIceServer).filter((s): s is NdcIceServer => s !== undefined)
  return {
    iceServers,
    ...(options.bindAddress === undefined ? {} : { bindAddress: options.bindAddress }),
    ...(options.relayOnly === true ? { iceTransportPolicy: 'relay' as const } : {})
  }
}

function pairSide (info: { type: string, address: string, port: number }): CandidatePair['local'] {
  return { type: CANDIDATE_TYPES.has(info.type as CandidateType) ? info.type as CandidateType : 'unknown', address: info.address, port: info.port }
}

/** One native peer connection and its negotiated channel. */
class NativePeer implements IcePeer {
  readonly #pc: PeerConnection
  readonly #dc: DataChannel
  readonly #candidates: string[] = []
  #local: SignalledDescription | undefined
  #handlers: IcePeerHandlers | undefined
  #opened = false
  #closed = false
  #onOpen: (() => void) | undefined
  #onDown: ((reason: string) => void) | undefined

  constructor (options: IcePeerOptions, remoteOffer: SignalledDescription | undefined) {
    this.#pc = new NativePeerConnection(`iicp-${++peerSerial}`, rtcConfig(options))
    livePeers++
    this.#pc.onLocalCandidate(candidate => { this.#candidates.push(candidate.replace(/^a=/, '')) })
    this.#pc.onStateChange(state => {
      if (state === 'failed' || state === 'closed' || state === 'disconnected') this.#down(`peer connection ${state}`)
    })
    try {
      if (remoteOffer !== undefined) {
        this.#applyRemote(remoteOffer, 'offer')
        this.addRemoteCandidates(remoteOffer.candidates)
      }
      // Negotiated on both sides, so no DCEP round trip; on the offering side this also starts the offer.
      this.#dc = this.#pc.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: 0 })
    } catch (err) {
      this.#closed = true
      this.#pc.close()
      livePeers--
      throw err
    }
    this.#dc.onOpen(() => {
      this.#opened = true
      this.#onOpen?.()
    })
    this.#dc.onClosed(() => { this.#down('data channel closed') })
    this.#dc.onError(err => { this.#down(`data channel error: ${err}`) })
    this.#dc.onMessage(msg => {
      if (this.#closed) return
      const bytes = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : Buffer.isBuffer(msg) ? msg : Buffer.from(msg)
      this.#handlers?.onMessage(bytes)
    })
  }

  get local (): SignalledDescription {
    if (this.#local === undefined) throw new ToolkitError(ErrorCode.Protocol, 'local description not ready')
    return this.#local
  }

  /** Waits for gathering to complete or the deadline, then snapshots the local description. */
  async gather (timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.#pc.gatheringState() !== 'complete') {
      let timer: NodeJS.Timeout | undefined
      try {
        await raceSignal(new Promise<void>(resolve => {
          timer = setTimeout(resolve, timeoutMs)
          this.#pc.onGatheringStateChange(state => { if (state === 'complete') resolve() })
          // Gathering may have completed between the check above and the callback's registration.
          if (this.#pc.gatheringState() === 'complete') resolve()
        }), signal, 'ICE gathering')
      } finally {
        clearTimeout(timer)
      }
    }
    const description = this.#pc.localDescription()
    if (description === null || this.#closed) throw new ToolkitError(ErrorCode.ConnectionClosed, 'peer closed before its description was ready')
    // The SDP holds every candidate gathered so far; the candidate callbacks may still be queued.
    const inSdp = description.sdp.match(/^a=candidate:.*$/gm)?.map(line => line.slice(2).trim()) ?? []
    this.#local = { sdp: description.sdp, candidates: [...new Set([...inSdp, ...this.#candidates])] }
  }

  setRemote (remote: SignalledDescription): void {
    this.#applyRemote(remote, 'answer')
    this.addRemoteCandidates(remote.candidates)
  }

  addRemoteCandidates (candidates: readonly string[]): void {
    if (this.#closed) return
    try {
      for (const c of candidates) this.#pc.addRemoteCandidate(c.startsWith('a=') ? c.slice(2) : c, '0')
    } catch (err) {
      throw new ToolkitError(ErrorCode.Protocol, `remote ICE candidate rejected: ${(err as Error).message}`, { cause: err })
    }
  }

  #applyRemote (remote: SignalledDescription, type: 'offer' | 'answer'): void {
    try {
      this.#pc.setRemoteDescription(remote.sdp, type)
    } catch (err) {
      throw new ToolkitError(ErrorCode.Protocol, `remote ICE ${type} rejected: ${(err as Error).message}`, { cause: err })
    }
  }

  async connect (handlers: IcePeerHandlers, signal: AbortSignal): Promise<PeerChannel> {
    this.#handlers = handlers
    if (!this.#opened) {
      await raceSignal(new Promise<void>((resolve, reject) => {
        this.#onOpen = resolve
        this.#onDown = reason => { reject(new ToolkitError(ErrorCode.ConnectionClosed, `direct path failed: ${reason}`)) }
        if (this.#closed) this.#onDown('closed')
      }), signal, 'direct path connect')
    }
    const dc = this.#dc
    // Tracked here (open event, then close/error/state events), not asked of the native channel
    // per frame; a send that races a native close fails and the close event follows.
    const isOpen = (): boolean => this.#opened && !this.#closed
    return {
      maxMessageBytes: Math.min(dc.maxMessageSize(), 256 * 1024),
      get open () { return isOpen() },
      get bufferedBytes () { return dc.isOpen() ? dc.bufferedAmount() : 0 },
      send: (message: Buffer) => {
        if (!isOpen()) return false
        try {
          // libdatachannel answers false when it queued the message instead of sending it at
          // once: that is backpressure (bufferedBytes), not a closed channel.
          dc.sendMessageBinary(message)
          return true
        } catch {
          return false
        }
      },
      onBufferedLow: (threshold: number, callback: () => void) => {
        dc.setBufferedAmountLowThreshold(threshold)
        dc.onBufferedAmountLow(callback)
      }
    }
  }

  selectedPair (): CandidatePair | undefined {
    if (this.#closed) return undefined
    const pair = this.#pc.getSelectedCandidatePair()
    return pair === null ? undefined : { local: pairSide(pair.local), remote: pairSide(pair.remote) }
  }

  rttMs (): number | undefined {
    if (this.#closed) return undefined
    const rtt = this.#pc.rtt()
    return rtt > 0 ? rtt : undefined
  }

  #down (reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#onDown?.(reason)
    this.#release()
    this.#handlers?.onClose(reason)
  }

  #release (): void {
    try { this.#dc.close() } catch { /* already closed */ }
    try { this.#pc.close() } catch { /* already closed */ }
    livePeers--
  }

  close (): void {
    this.#down('closed locally')
  }
}

async function prepared (peer: NativePeer, options: IcePeerOptions, signal: AbortSignal): Promise<NativePeer> {
  try {
    await peer.gather(options.gatherTimeoutMs, signal)
    return peer
  } catch (err) {
    peer.close()
    throw err
  }
}

/** A new offering peer; resolves once its description is ready. */
export async function offerPeer (options: IcePeerOptions, signal: AbortSignal): Promise<IcePeer> {
  return await prepared(new NativePeer(options, undefined), options, signal)
}

/** A new answering peer for `remote`; resolves once its description is ready. */
export async function answerPeer (remote: SignalledDescription, options: IcePeerOptions, signal: AbortSignal): Promise<IcePeer> {
  return await prepared(new NativePeer(options, remote), options, signal)
}

/** Frees the native library's threads once no peer is left. */
export function releaseIfIdle (): void {
  if (livePeers === 0) cleanup()
}
