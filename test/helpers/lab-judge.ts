/**
 * Judge a lab topology with independent tools only: coturn's natdiscovery for mapping (`-m`) and
 * filtering (`-f` alone, each on fresh NAT state, spec §8.3), plus a real TCP connection from an
 * internet host the client never contacted to the client's service, for inbound reachability.
 */
import { INTERNET_HOST_V4, INTERNET_HOST_V6 } from '../lab/addresses.ts'
import { httpCheck, natDiscovery } from '../lab/judges.ts'
import type { Lab } from '../lab/lab.ts'
import type { Behaviour, Topology } from '../lab/topologies.ts'

/** What the judges say about a topology. */
export interface JudgeVerdict {
  mapping: Behaviour
  filtering: Behaviour
  /** Reflexive `ip:port` from the mapping run. */
  reflexive: string | undefined
  /** A fresh TCP connection from the internet reached the client's service on IPv4. */
  inboundV4: boolean
  /** Same on IPv6 (undefined when the topology has no IPv6). */
  inboundV6: boolean | undefined
  /** Judge output lines worth showing on a mismatch. */
  evidence: string
  /** Time spent judging. */
  ms: number
}

/** Deadline for the inbound checks (a dropped SYN costs this much). */
const INBOUND_TIMEOUT_MS = 1500

/**
 * Runs the judges against `lab.coturn`. `servicePort` must have a listener in the client namespace
 * (e.g. bin/http-target.ts); the inbound checks connect to it from the internet namespace.
 */
export async function judgeTopology (lab: Lab, t: Topology, servicePort: number): Promise<JudgeVerdict> {
  if (lab.coturn === undefined) throw new Error('judgeTopology needs coturn in the lab')
  const started = performance.now()
  await t.resetState()
  const v4 = await httpCheck(lab.inetNs, `http://${t.publicV4}:${servicePort}/`, INBOUND_TIMEOUT_MS, INTERNET_HOST_V4)
  const v6 = t.clientV6 === undefined ? undefined : await httpCheck(lab.inetNs, `http://[${t.clientV6}]:${servicePort}/`, INBOUND_TIMEOUT_MS, INTERNET_HOST_V6)
  await t.resetState()
  const filtering = await natDiscovery(t.clientNs, 'filtering', lab.coturn)
  await t.resetState()
  const mapping = await natDiscovery(t.clientNs, 'mapping', lab.coturn, t.clientV4)
  await t.resetState()
  return {
    mapping: mapping.behaviour,
    filtering: filtering.behaviour,
    reflexive: mapping.reflexive,
    inboundV4: v4.ok,
    inboundV6: v6?.ok,
    evidence: [
      `inbound v4: ${v4.line}`, ...(v6 === undefined ? [] : [`inbound v6: ${v6.line}`]),
      `natdiscovery -m: ${summarize(mapping.output)}`, `natdiscovery -f: ${summarize(filtering.output)}`
    ].join('\n'),
    ms: performance.now() - started
  }
}

function summarize (output: string): string {
  return output.split('\n').filter(l => /NAT|reflexive|timeout|Response origin/i.test(l)).map(l => l.trim()).join(' | ')
}
