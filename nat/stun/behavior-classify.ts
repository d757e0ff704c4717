/**
 * Pure classification rules of RFC 5780 §4.3 (mapping) and §4.4 (filtering), plus the
 * two-server mapping comparison used when a server gives no OTHER-ADDRESS. No I/O.
 */
import { sameIp } from '../net/addr.ts'
import { formatAddress, sameTransportAddress, type TransportAddress } from './attributes.ts'

/** A NAT mapping or filtering behaviour (RFC 4787 terms); 'none' means no NAT. */
export type NatBehavior = 'none' | 'endpoint_independent' | 'address_dependent' | 'address_and_port_dependent' | 'unknown'

/** A classification with the notes that explain it. */
export interface Classified {
  /** The behaviour. */
  behavior: NatBehavior
  /** Why, when it is not plain. */
  notes: string[]
}

/**
 * RFC 5780 §4.3 from the mapped addresses of test I (primary), test II (alternate IP, primary
 * port) and test III (alternate IP and port); undefined means the test got no answer.
 */
export function classifyMappingRfc5780 (testI: TransportAddress, testII: TransportAddress | undefined, testIII: TransportAddress | undefined): Classified {
  if (testII !== undefined) {
    if (sameTransportAddress(testII, testI)) return { behavior: 'endpoint_independent', notes: [] }
    if (testIII === undefined) {
      return { behavior: 'address_dependent', notes: ['mapping test III got no answer: the mapping changes with the destination address; address-and-port dependence not measured'] }
    }
    return sameTransportAddress(testIII, testII)
      ? { behavior: 'address_dependent', notes: [] }
      : { behavior: 'address_and_port_dependent', notes: [] }
  }
  if (testIII !== undefined) {
    return sameTransportAddress(testIII, testI)
      ? { behavior: 'endpoint_independent', notes: ['mapping test II got no answer; test III (other IP and port) reused the mapping'] }
      : { behavior: 'address_dependent', notes: ['mapping test II got no answer; test III shows the mapping changes with the destination; address-and-port dependence not measured'] }
  }
  return { behavior: 'unknown', notes: ['mapping tests II and III (to OTHER-ADDRESS) got no answer'] }
}

/** One server's answer for the two-server comparison. */
export interface ServerMapping {
  /** The server the binding went to. */
  server: TransportAddress
  /** The reflexive address it reported. */
  mapped: TransportAddress
}

/**
 * Compares the mapped addresses one socket got from several servers (Tailscale netcheck style).
 * Equal everywhere: endpoint-independent. Different for two servers on one IP: address-and-port
 * dependent. Equal on one IP but different across IPs: address-dependent. Different across IPs
 * only: reported as address-dependent with a note (address-and-port dependence not measurable).
 */
export function classifyMappingAcrossServers (answers: readonly ServerMapping[]): Classified {
  if (answers.length < 2) return { behavior: 'unknown', notes: ['mapping needs OTHER-ADDRESS or answers from two servers'] }
  const first = answers[0] as ServerMapping
  if (answers.every(a => sameTransportAddress(a.mapped, first.mapped))) return { behavior: 'endpoint_independent', notes: [] }
  let samePortDiffers = false
  let sameIpAgrees = false
  for (const a of answers) {
    for (const b of answers) {
      if (a === b || !sameIp(a.server.address, b.server.address) || a.server.port === b.server.port) continue
      if (sameTransportAddress(a.mapped, b.mapped)) sameIpAgrees = true
      else samePortDiffers = true
    }
  }
  if (samePortDiffers) return { behavior: 'address_and_port_dependent', notes: [] }
  if (sameIpAgrees) return { behavior: 'address_dependent', notes: [] }
  const seen = answers.map(a => `${formatAddress(a.server)} -> ${formatAddress(a.mapped)}`).join(', ')
  return {
    behavior: 'address_dependent',
    notes: [`mapping differs between servers (${seen}): at least address-dependent; address-and-port dependence needs OTHER-ADDRESS or two servers on one IP`]
  }
}

/** Outcome of one filtering test. */
export type FilterProbe =
  | { kind: 'answered', source: TransportAddress }
  | { kind: 'silent' }
  | { kind: 'error', message: string }

/**
 * RFC 5780 §4.4 from test II (CHANGE-REQUEST IP and port) and test III (CHANGE-REQUEST port),
 * each sent from a fresh socket to `server`. An answer counts only
 * when it comes from the address the change asked for.
 */
export function classifyFiltering (server: TransportAddress, testII: FilterProbe, testIII: FilterProbe): Classified {
  if (testII.kind === 'error') return { behavior: 'unknown', notes: [`filtering test II failed: ${testII.message}`] }
  if (testII.kind === 'answered') {
    if (sameIp(testII.source.address, server.address) || testII.source.port === server.port) {
      return { behavior: 'unknown', notes: [`server did not honour CHANGE-REQUEST (test II answered from ${formatAddress(testII.source)})`] }
    }
    return { behavior: 'endpoint_independent', notes: [] }
  }
  if (testIII.kind === 'error') return { behavior: 'unknown', notes: [`filtering test III failed: ${testIII.message}`] }
  if (testIII.kind === 'answered') {
    if (!sameIp(testIII.source.address, server.address) || testIII.source.port === server.port) {
      return { behavior: 'unknown', notes: [`server did not honour CHANGE-REQUEST port (test III answered from ${formatAddress(testIII.source)})`] }
    }
    return { behavior: 'address_dependent', notes: [] }
  }
  return { behavior: 'address_and_port_dependent', notes: [] }
}
