#!/usr/bin/env node
/**
 * `iicp-relay`: the public relay-accept server (relay/cli.ts), composed with the NAT
 * module's dial-back reflector at POST /v1/nat/dialback and, on request, an RFC 5780 STUN
 * server, so a relay is all `iicp-nat probe` needs to measure and verify a network. Both are
 * advertised in GET /v1/nat/info, so `iicp-nat probe --reflector http://relay:9484` is enough.
 */
import { createDialbackRoute, createNatInfoRoute, createStunServer, formatAddress } from '../../nat/index.ts'
import { relayMain } from '../cli.ts'
import { ICE_SERVER_FLAGS, iceServerRoutesFromFlags } from '../ice-servers-route.ts'
import { tryParseIpLiteral } from '../../src/host-port.ts'
import { boolFlag, hostPortFlag, listFlag, runCli, stringFlag, usageError, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { applyGcHeadroom } from '../../src/cli/gc-headroom.ts'

applyGcHeadroom()

const NAT_FLAGS: FlagSpec[] = [
  { name: 'no-reflector', type: 'boolean', env: 'IICP_RELAY_NO_REFLECTOR', description: 'do not serve the NAT dial-back reflector (POST /v1/nat/dialback)' },
  { name: 'reflector-dial-from', type: 'string', multiple: true, env: 'IICP_RELAY_REFLECTOR_DIAL_FROM', valueName: 'IP', description: 'source address for dial-backs, one per family: an address probing clients never contact' },
  { name: 'reflector-allow-private', type: 'boolean', env: 'IICP_RELAY_REFLECTOR_ALLOW_PRIVATE', description: 'let the reflector dial loopback, private, CGNAT and other non-global addresses (labs only: it can then reach services on this host\'s network)' },
  { name: 'trust-proxy', type: 'string', multiple: true, env: 'IICP_RELAY_TRUST_PROXY', valueName: 'CIDR', description: 'reverse proxy address range: only requests from it have their client address taken from X-Forwarded-For / Forwarded (for the reflector)' },
  { name: 'stun', type: 'string', env: 'IICP_RELAY_STUN', valueName: 'IP:PORT', description: 'also serve STUN (UDP) on this address (port 0 = ephemeral)' },
  { name: 'stun-alternate', type: 'string', env: 'IICP_RELAY_STUN_ALTERNATE', valueName: 'IP:PORT', description: 'second STUN address and port: makes the server RFC 5780-capable (needs --stun)' }
]

/** The STUN server's bound addresses, primary first, once it listens (advertised in GET /v1/nat/info). */
const stunAddresses: Array<{ address: string, port: number }> = []

/** Starts the STUN server when --stun is given; throws ERR_USAGE (exit 2) for bad addresses. */
async function startStun (values: FlagValues): Promise<{ describe: string, close: () => Promise<void> } | undefined> {
  const primaryText = stringFlag(values, 'stun')
  const alternateText = stringFlag(values, 'stun-alternate')
  if (primaryText === undefined) {
    if (alternateText !== undefined) throw usageError('--stun-alternate needs --stun')
    return undefined
  }
  const p = hostPortFlag(primaryText, 'stun', { allowZeroPort: true })
  const a = alternateText === undefined ? undefined : hostPortFlag(alternateText, 'stun-alternate', { allowZeroPort: true })
  const server = createStunServer({
    primary: { address: p.host, port: p.port },
    ...(a === undefined ? {} : { alternate: { address: a.host, port: a.port } })
  })
  const info = await server.listen()
  stunAddresses.push(info.primary, ...(info.alternate === undefined ? [] : [info.alternate]))
  return {
    describe: `stun=${formatAddress(info.primary)}${info.alternate === undefined ? '' : `,${formatAddress(info.alternate)}`}`,
    close: async () => { await server.close() }
  }
}

/** --trust-proxy CIDRs, checked here so a typo is a usage error (exit 2). */
function trustProxyFlag (values: FlagValues): string[] {
  const list = listFlag(values, 'trust-proxy')
  for (const c of list) {
    const [ip = '', bits] = c.split('/')
    if (tryParseIpLiteral(ip) === undefined || (bits !== undefined && !/^\d{1,3}$/.test(bits))) throw usageError(`--trust-proxy must be an IP or CIDR, got "${c}"`)
  }
  return list
}

runCli('iicp-relay', async argv => await relayMain(argv, process.env, {
  flags: [...NAT_FLAGS, ...ICE_SERVER_FLAGS],
  routes: (values, logger) => [
    ...iceServerRoutesFromFlags(values),
    ...(boolFlag(values, 'no-reflector')
      ? []
      : [createDialbackRoute({
          dialFrom: listFlag(values, 'reflector-dial-from'),
          allowPrivate: boolFlag(values, 'reflector-allow-private'),
          trustProxy: trustProxyFlag(values),
          logger: logger.child({ component: 'reflector' })
        })]),
    createNatInfoRoute({ stun: () => stunAddresses, reflector: !boolFlag(values, 'no-reflector') })
  ],
  start: async values => await startStun(values)
}))
