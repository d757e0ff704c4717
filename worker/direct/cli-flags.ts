/** The worker's direct-path flags (`--no-direct`, `--max-peers`) and their mapping to options. */
import { boolFlag, intFlag, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { DEFAULT_MAX_DIRECT_PEERS, type WorkerOptions } from '../options.ts'

/** Flags for `iicp-worker`. */
export const DIRECT_FLAGS: readonly FlagSpec[] = [
  { name: 'no-direct', type: 'boolean', env: 'IICP_WORKER_NO_DIRECT', description: 'relay only: refuse direct-path (ICE) offers, which would reveal this host\'s addresses to consumers' },
  { name: 'max-peers', type: 'string', valueName: 'N', env: 'IICP_WORKER_MAX_PEERS', description: `most concurrent direct-path consumers (default ${DEFAULT_MAX_DIRECT_PEERS})` }
]

/** The worker options the flags set. Throws ERR_USAGE for a bad `--max-peers`. */
export function directOptionsFromFlags (values: FlagValues): Pick<WorkerOptions, 'direct' | 'maxDirectPeers'> {
  return { direct: !boolFlag(values, 'no-direct'), maxDirectPeers: intFlag(values, 'max-peers', DEFAULT_MAX_DIRECT_PEERS, 1, 100_000) }
}
