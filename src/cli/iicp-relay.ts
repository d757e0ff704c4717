#!/usr/bin/env node
/**
 * `iicp-relay`: the public relay-accept server (relay/relay-cli.ts), composed with the NAT
 * module's dial-back reflector at POST /v1/nat/dialback so `iicp-nat probe --reflector
 * http://<relay>:9484` can verify inbound reachability.
 */
import { createDialbackRoute } from '../../nat/index.ts'
import { relayMain } from '../../relay/relay-cli.ts'
import { boolFlag, listFlag, runCli, type FlagSpec } from './args.ts'

const REFLECTOR_FLAGS: FlagSpec[] = [
  { name: 'no-reflector', type: 'boolean', env: 'IICP_RELAY_NO_REFLECTOR', description: 'do not serve the NAT dial-back reflector (POST /v1/nat/dialback)' },
  { name: 'reflector-dial-from', type: 'string', multiple: true, env: 'IICP_RELAY_REFLECTOR_DIAL_FROM', valueName: 'IP', description: 'source address for dial-backs, one per family: an address probing clients never contact' }
]

runCli('iicp-relay', async argv => await relayMain(argv, process.env, {
  flags: REFLECTOR_FLAGS,
  routes: (values, logger) => boolFlag(values, 'no-reflector')
    ? []
    : [createDialbackRoute({ dialFrom: listFlag(values, 'reflector-dial-from'), logger: logger.child({ component: 'reflector' }) })]
}))
