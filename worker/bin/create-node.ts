/**
 * The library composer for a reachable node: `createNode()` is `createReachNode()`
 * (worker/reach/node.ts) with nat/'s capabilities (nat/reach-capabilities.ts) wired in, started. It lives under bin/ because
 * composing worker/ with nat/ is allowed only here (ARCHITECTURE.md).
 *
 * @example
 * ```ts
 * const node = await createNode({ nodeId: 'gpu-1', backendUrl: 'http://127.0.0.1:8000', relays: [{ host: 'relay.example', port: 9485 }], directory: { url: 'https://directory.example/api' } })
 * node.on('change', t => console.log(t.to, t.endpoint))
 * await node.stop()
 * ```
 */
import { createLogger } from '../../src/log.ts'
import type { StunServerAddress } from '../../nat/stun/behavior.ts'
import type { ReachCapabilities } from '../../src/reach/capabilities.ts'
import { createReachNode, type ReachNode, type ReachNodeOptions } from '../reach/node.ts'
import { natCapabilities } from '../../nat/reach-capabilities.ts'

/** Options for {@link createNode}: the node's options, with nat/'s capabilities unless given. */
export interface CreateNodeOptions extends Omit<ReachNodeOptions, 'capabilities'> {
  /** Explicit gateways (IGD description URLs or IP literals) instead of discovery. */
  gateways?: string[]
  /** STUN servers for the NAT type. */
  stun?: StunServerAddress[]
  /** Replaces nat/'s capabilities (tests). */
  capabilities?: ReachCapabilities
}

/** Creates a reachable node and climbs the ladder once; it then keeps its rung until `stop()`. */
export async function createNode (o: CreateNodeOptions): Promise<ReachNode> {
  const logger = o.logger ?? createLogger({ level: 'silent' })
  const caps = o.capabilities ?? natCapabilities({ logger, ...(o.gateways === undefined ? {} : { gateways: o.gateways }), ...(o.stun === undefined ? {} : { stun: o.stun }) })
  const node = await createReachNode({ ...o, capabilities: caps, logger })
  try {
    await node.start()
  } catch (err) {
    await node.stop()
    throw err
  }
  return node
}
