/**
 * The ICE backend on node-datachannel (native-peer.ts). The native library is loaded on the first
 * offer or answer, not with the module: a worker or consumer that never tries a direct path
 * neither loads it nor carries its bindings in its heap.
 */
import type { IceBackend } from './types.ts'

type NativePeers = typeof import('./native-peer.ts')

let loading: Promise<NativePeers> | undefined
let loaded: NativePeers | undefined

async function native (): Promise<NativePeers> {
  loading ??= import('./native-peer.ts').then(m => {
    loaded = m
    return m
  })
  return await loading
}

/** The node-datachannel backend. */
export const nodeDataChannelBackend: IceBackend = {
  name: 'node-datachannel',
  offer: async (options, signal) => await (await native()).offerPeer(options, signal),
  answer: async (remote, options, signal) => await (await native()).answerPeer(remote, options, signal),
  release: () => { loaded?.releaseIfIdle() }
}
