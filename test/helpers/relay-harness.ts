/**
 * Test harness for the relay: a relay on 127.0.0.1 with ephemeral ports, raw peers that are
 * torn down with it (peers first, then the relay), and a small HTTP client.
 */
import { request } from 'node:http'
import { createRelay, type Relay, type RelayOptions } from '../../relay/index.ts'
import { RelayPeer, type PeerBindOptions } from './relay-peer.ts'

/** A running relay plus the peers a test opened against it. */
export interface RelayHarness {
  relay: Relay
  httpPort: number
  relayPort: number
  /** Opens a raw peer on the relay-accept port. */
  peer: (localAddress?: string) => Promise<RelayPeer>
  /** Opens a peer and completes the handshake; throws unless RELAY_ACK is ok. */
  worker: (workerId: string, options?: PeerBindOptions) => Promise<RelayPeer>
  /** Destroys every peer, then closes the relay. */
  close: () => Promise<void>
}

/** Starts a relay on 127.0.0.1 with ephemeral ports (options override). */
export async function startRelay (options: RelayOptions = {}): Promise<RelayHarness> {
  const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, ...options })
  const { httpPort, relayPort } = await relay.listen()
  const peers: RelayPeer[] = []
  const peer = async (localAddress?: string): Promise<RelayPeer> => {
    const p = await RelayPeer.connect(relayPort, '127.0.0.1', localAddress)
    peers.push(p)
    return p
  }
  return {
    relay,
    httpPort,
    relayPort,
    peer,
    async worker (workerId, bindOptions) {
      const p = await peer()
      const ack = await p.bind(workerId, bindOptions)
      if (!ack.ok) throw new Error(`bind of ${workerId} refused: ${ack.reason}`)
      return p
    },
    async close () {
      for (const p of peers) p.destroy()
      await relay.close()
    }
  }
}

/** An HTTP answer. */
export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  /** The body parsed as JSON (typed by the caller). */
  json: <T = Record<string, unknown>>() => T
}

/** Options for {@link http}. */
export interface HttpOptions {
  method?: string
  body?: string | Buffer | object
  headers?: Record<string, string>
  timeoutMs?: number
}

/** Sends one HTTP request to 127.0.0.1:`port` on a fresh connection. */
export async function http (port: number, path: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const raw = options.body
  const body = raw === undefined ? undefined : Buffer.isBuffer(raw) ? raw : Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw), 'utf8')
  return await new Promise<HttpAnswer>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      agent: false,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) }), ...options.headers },
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000)
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const b = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: <T>() => JSON.parse(b.toString('utf8')) as T })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}
