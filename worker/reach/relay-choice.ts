/**
 * Which relays the relay rung tries, in order: a `--relay a:9485,b:9485` list in random order
 * (failing over to the next), or relays elected from the directory exactly as upstream does
 * (nat-module.md §2.5, directory-contract.md §7): relay-capable nodes other than this one, best
 * first by `(load, sha256_hex("<own id>:<candidate id>"))`, port `transport_metadata.relay_accept_port`
 * or 9485, host from the candidate's HTTP endpoint.
 */
import { createHash, randomInt } from 'node:crypto'
import { DEFAULT_RELAY_ACCEPT_PORT } from '../../src/limits.ts'
import type { DiscoveredNode } from '../../src/directory/client.ts'
import { formatHostPort, unbracketHost } from '../../src/host-port.ts'

/** One relay the worker can bind to. */
export interface RelayCandidate {
  /** Relay-accept host. */
  host: string
  /** Relay-accept port. */
  port: number
  /** The relay's directory node id (its ticket audience), when elected. */
  nodeId?: string | undefined
  /** The relay's HTTP front (a default reflector), when known. */
  httpUrl?: string | undefined
}

/** `host:port` of a candidate, for log lines. */
export function candidateLabel (c: RelayCandidate): string {
  return formatHostPort(unbracketHost(c.host), c.port)
}

/** The list in a random order (Fisher–Yates). */
export function shuffled<T> (list: readonly T[]): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    const a = out[i] as T
    out[i] = out[j] as T
    out[j] = a
  }
  return out
}

function electionKey (ownId: string, node: DiscoveredNode): string {
  return createHash('sha256').update(`${ownId}:${node.nodeId}`).digest('hex')
}

/** The discovered relays, best first by upstream's election key; unusable nodes dropped. */
export function electRelays (ownId: string, nodes: readonly DiscoveredNode[]): RelayCandidate[] {
  const usable = nodes.filter(n => n.relayCapable && n.endpoint !== '' && n.nodeId !== ownId && n.nodeId !== '')
  const keyed = usable.map(n => ({ n, key: electionKey(ownId, n) }))
  keyed.sort((a, b) => a.n.load - b.n.load || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const out: RelayCandidate[] = []
  for (const { n } of keyed) {
    let url: URL
    try { url = new URL(n.endpoint) } catch { continue }
    const port = n.transportMetadata?.relay_accept_port
    out.push({
      host: unbracketHost(url.hostname),
      port: typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : DEFAULT_RELAY_ACCEPT_PORT,
      nodeId: n.nodeId,
      httpUrl: url.origin
    })
  }
  return out
}
