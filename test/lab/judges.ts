/**
 * Independent judges, run inside lab namespaces: coturn's `turnutils_natdiscovery` (RFC 5780
 * mapping/filtering) and `turnutils_stunclient` (reflexive address), miniupnpc's `upnpc`, `natpmpc`,
 * the router's own nft ruleset, and a plain HTTP GET from the internet namespace.
 * Every judge has a hard deadline; none of them is our code under test.
 */
import { inNs, run } from './processes.ts'
import type { RunResult } from './processes.ts'
import type { Behaviour } from './topologies.ts'
import { labFile } from './lab.ts'
import { SEEN_SET } from './nft-rules.ts'

/** natdiscovery waits ~3 s per unanswered request; filtering needs up to two of them, mapping one. */
const NATDISCOVERY_TIMEOUT_MS = 15_000
/** `turnutils_stunclient` has no timeout of its own: it blocks when no answer comes. */
const STUNCLIENT_TIMEOUT_MS = 4000
/** upnpc spends ~2 s in SSDP discovery, then a few SOAP calls. */
const UPNPC_TIMEOUT_MS = 10_000
const NATPMPC_TIMEOUT_MS = 10_000

/** A verdict from `turnutils_natdiscovery`. */
export interface NatDiscoveryVerdict {
  /** `unknown` when no STUN answer came at all (UDP blocked). */
  behaviour: Behaviour
  /** The server-reported reflexive `ip:port` of the first answer, if any. */
  reflexive: string | undefined
  /** The judge's full output (for failure messages). */
  output: string
  ms: number
}

function splitHostPort (hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':')
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), hostPort.slice(i + 1)]
}

async function runIn (ns: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  const [c, a] = inNs(ns, cmd, args)
  return await run(c, a, { timeoutMs })
}

/** Maps natdiscovery's wording to the RFC 4787 vocabulary. */
export function parseNatDiscovery (output: string, kind: 'Mapping' | 'Filtering'): Behaviour {
  if (kind === 'Mapping' && output.includes('No NAT!')) return 'none'
  const m = output.match(new RegExp(`NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) ${kind}!`))
  const words: Record<string, Behaviour> = {
    'Endpoint Independent': 'endpoint_independent',
    'Address Dependent': 'address_dependent',
    'Address and Port Dependent': 'address_and_port_dependent'
  }
  return words[m?.[1] ?? ''] ?? 'unknown'
}

/**
 * `turnutils_natdiscovery -m` (mapping) or `-f` (filtering) from `ns` against `server` (`host:port`).
 * Run `-f` ALONE on fresh NAT state (spec §8.3): a mapping run contacts the alternate address and
 * opens an address-restricted filter. With `localAddress` (the client's own address) the judge
 * reports "No NAT" when the reflexive address equals it.
 */
export async function natDiscovery (ns: string, mode: 'mapping' | 'filtering', server: string, localAddress?: string): Promise<NatDiscoveryVerdict> {
  const [host, port] = splitHostPort(server)
  const args = [mode === 'mapping' ? '-m' : '-f', '-p', port]
  if (localAddress !== undefined) args.push('-L', localAddress)
  args.push(host)
  const r = await runIn(ns, 'turnutils_natdiscovery', args, NATDISCOVERY_TIMEOUT_MS)
  const output = r.stdout + r.stderr
  if (r.timedOut) throw new Error(`turnutils_natdiscovery ${args.join(' ')} timed out:\n${output}`)
  let behaviour = parseNatDiscovery(output, mode === 'mapping' ? 'Mapping' : 'Filtering')
  const reflexive = output.match(/UDP reflexive addr: (\S+)/)?.[1]
  // natdiscovery only says "No NAT" when bound to the address it compares; double-check by hand.
  if (mode === 'mapping' && behaviour === 'endpoint_independent' && localAddress !== undefined &&
      reflexive !== undefined && splitHostPort(reflexive)[0] === localAddress) behaviour = 'none'
  return { behaviour, reflexive, output, ms: r.ms }
}

/** `turnutils_stunclient -f` from `ns`: the reflexive `ip:port`, or undefined when no answer came before the deadline. */
export async function stunReflexive (ns: string, server: string): Promise<string | undefined> {
  const [host, port] = splitHostPort(server)
  const r = await runIn(ns, 'turnutils_stunclient', ['-f', '-p', port, host], STUNCLIENT_TIMEOUT_MS)
  return (r.stdout + r.stderr).match(/UDP reflexive addr: (\S+)/)?.[1]
}

/** Result of an HTTP GET from a namespace. */
export interface HttpCheck {
  ok: boolean
  /** `ok <status> <body>` or `fail <code> <message>`. */
  line: string
  ms: number
}

/**
 * One HTTP GET of `url` from namespace `ns` (a real TCP connection), with a deadline. `source`
 * picks the local address (from the internet namespace: INTERNET_HOST_V4/_V6 of addresses.ts, a host
 * the client never contacted).
 */
export async function httpCheck (ns: string, url: string, timeoutMs = 2000, source?: string): Promise<HttpCheck> {
  const args = [labFile('bin/http-check.ts'), url, String(timeoutMs), ...(source === undefined ? [] : [source])]
  const r = await runIn(ns, process.execPath, args, timeoutMs + 5000)
  const line = (r.stdout.trim().split('\n').pop() ?? '') || r.stderr.trim()
  return { ok: r.code === 0 && line.startsWith('ok '), line, ms: r.ms }
}

/** One row of `upnpc -l`. */
export interface UpnpMapping {
  protocol: 'TCP' | 'UDP'
  externalPort: number
  internalClient: string
  internalPort: number
  description: string
  leaseS: number
}

/** Parses the mapping rows of `upnpc -l` output. */
export function parseUpnpList (output: string): UpnpMapping[] {
  const rows: UpnpMapping[] = []
  for (const m of output.matchAll(/^\s*\d+\s+(TCP|UDP)\s+(\d+)->([\d.]+):(\d+)\s+'([^']*)'\s+'[^']*'\s+(\d+)/gm)) {
    rows.push({
      protocol: m[1] as 'TCP' | 'UDP',
      externalPort: Number(m[2]),
      internalClient: m[3] ?? '',
      internalPort: Number(m[4]),
      description: m[5] ?? '',
      leaseS: Number(m[6])
    })
  }
  return rows
}

/** How upnpc finds the IGD: `url` skips SSDP discovery (`-u`, fast); `anyIgd` (`-i`) accepts an IGD that says it is not connected (miniupnpd on a reserved WAN). */
export interface UpnpcTarget {
  url?: string | undefined
  anyIgd?: boolean
}

/** Runs `upnpc [-6] [-u URL] [-i] ARGS…` in `ns`. */
async function upnpc (ns: string, args: readonly string[], target: UpnpcTarget = {}, v6 = false): Promise<string> {
  const opts = [...(v6 ? ['-6'] : []), ...(target.url === undefined ? [] : ['-u', target.url]), ...(target.anyIgd === true ? ['-i'] : [])]
  const r = await runIn(ns, 'upnpc', [...opts, ...args], UPNPC_TIMEOUT_MS)
  if (r.timedOut) throw new Error(`upnpc ${[...opts, ...args].join(' ')} timed out:\n${r.stdout}${r.stderr}`)
  return r.stdout + r.stderr
}

/** `upnpc -l` from `ns`: the IGD's external IP and its port mappings. Throws when no IGD answered. */
export async function upnpList (ns: string, target: UpnpcTarget = {}): Promise<{ externalIp: string | undefined, mappings: UpnpMapping[], output: string }> {
  const output = await upnpc(ns, ['-l'], target)
  const anyIgd = target.anyIgd === true
  const found = anyIgd ? /Found (valid|a \(not connected\?\)) IGD/ : /Found valid IGD/
  if (!found.test(output)) throw new Error(`upnpc -l found no ${anyIgd ? '' : 'valid '}IGD:\n${output}`)
  return { externalIp: output.match(/ExternalIPAddress = (\S+)/)?.[1], mappings: parseUpnpList(output), output }
}

/** `upnpc -6 -S` from `ns`: whether the IGD's WANIPv6FirewallControl allows inbound pinholes. */
export async function upnpFirewallStatus (ns: string, target: UpnpcTarget = {}): Promise<{ enabled: boolean, pinholeAllowed: boolean, output: string }> {
  const output = await upnpc(ns, ['-S'], target, true)
  return {
    enabled: /Firewall Enabled\s*:\s*Yes/i.test(output),
    pinholeAllowed: /Inbound Pinhole Allowed\s*:\s*Yes/i.test(output),
    output
  }
}

/** `natpmpc -g GW` from `ns`: the public IPv4 the gateway reports over NAT-PMP, or undefined. */
export async function natpmpPublicIp (ns: string, gateway: string): Promise<{ ip: string | undefined, output: string }> {
  const r = await runIn(ns, 'natpmpc', ['-g', gateway], NATPMPC_TIMEOUT_MS)
  const output = r.stdout + r.stderr
  return { ip: output.match(/Public IP address : (\S+)/)?.[1], output }
}

/** The router-side truth: the rules miniupnpd currently holds (forward chain and DNAT chain), as nft text. */
export async function miniupnpdRules (routerNs: string): Promise<{ forward: string[], dnat: string[] }> {
  const list = async (chain: string): Promise<string[]> => {
    const r = await runIn(routerNs, 'nft', ['list', 'chain', 'inet', 'filter', chain], 5000)
    if (r.code !== 0) throw new Error(`nft list chain inet filter ${chain}: ${r.stderr}`)
    return r.stdout.split('\n').map(l => l.trim()).filter(l => /\b(accept|dnat)\b/.test(l))
  }
  return { forward: await list('miniupnpd'), dnat: await list('prerouting_miniupnpd') }
}

/** `upnpc -6 -K ID` from `ns`: true while the IGD still knows pinhole `id` (GetPinholePackets answers), false once it is gone. */
export async function upnpPinholeExists (ns: string, id: number, target: UpnpcTarget = {}): Promise<{ exists: boolean, output: string }> {
  const output = await upnpc(ns, ['-K', String(id)], target, true)
  return { exists: /PinholePackets = \d+/.test(output), output }
}

/** `upnpc -e DESC -a IP PORT PORT TCP LEASE` from `ns` (a mapping nobody renews, for lease-expiry controls). */
export async function upnpAddMapping (ns: string, ip: string, port: number, leaseS: number, description: string, target: UpnpcTarget = {}): Promise<string> {
  const output = await upnpc(ns, ['-e', description, '-a', ip, String(port), String(port), 'TCP', String(leaseS)], target)
  if (!/is redirected to internal/.test(output)) throw new Error(`upnpc -a failed:\n${output}`)
  return output
}

/** Addresses in a restricted-cone router's "seen" set: the internet hosts the client has contacted (whose packets the filter lets in). */
export async function seenAddresses (routerNs: string): Promise<string[]> {
  const r = await runIn(routerNs, 'nft', ['list', 'set', SEEN_SET.family, SEEN_SET.table, SEEN_SET.set], 5000)
  if (r.code !== 0) throw new Error(`nft list set: ${r.stderr}`)
  return [...(r.stdout.match(/elements = \{([^}]*)\}/)?.[1] ?? '').matchAll(/(\d+\.\d+\.\d+\.\d+)/g)].map(m => m[1] ?? '')
}
