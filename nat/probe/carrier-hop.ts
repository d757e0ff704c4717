/**
 * The carrier hop check (issue 8 item 3): behind a home NAT whose upstream is a carrier-grade
 * NAT, the only sign of the carrier is a router in 100.64.0.0/10 a few hops out. TTL-limited UDP
 * probes toward the STUN server (the system's `traceroute`, else `tracepath`; both read the ICMP
 * "time exceeded" answers the kernel delivers) list the first hops; a hop in 100.64.0.0/10 is
 * CGNAT evidence. When the path leaves through an overlay interface (Tailscale, WireGuard,
 * ZeroTier), whose own addressing often is 100.64.0.0/10, the hops are not evidence. The result
 * always says whether the check ran, and why not.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { errorMessage } from '../../src/errors.ts'
import { tryParseIp } from '../net/addr.ts'
import { sourceAddressToward, type LocalAddress } from '../net/interfaces.ts'
import { isOverlayInterface } from './addresses.ts'

/** Hops looked at: a carrier NAT sits within the first few. */
export const CARRIER_HOP_MAX_TTL = 5
/** Wait per probe for its ICMP answer, seconds (traceroute sends all hops at once). */
const PROBE_WAIT_S = 0.5
/** Most output read from the tool. */
const MAX_OUTPUT_BYTES = 16 * 1024

/** One hop: its TTL and the router that answered (null: no answer). */
export interface HopEntry { ttl: number, address: string | null }

/** The `cgnat.hop_check` section. */
export interface CarrierHopCheck {
  /** The check ran and produced hops. */
  ran: boolean
  /** Tool used. */
  tool: 'traceroute' | 'tracepath' | null
  /** Where the probes went. */
  target: string | null
  /** Hops seen, by TTL. */
  hops: HopEntry[]
  /** The first hop in 100.64.0.0/10, when one answered. */
  carrier_hop: HopEntry | null
  /** Why it did not run, or what limited it (e.g. an overlay path). */
  error: string | null
}

/** Runs a tool and returns its stdout (injectable: tests pass canned output). */
export type RunToolFn = (file: string, args: string[], timeoutMs: number, signal: AbortSignal | undefined) => Promise<string>

const SEARCH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':').filter(p => p !== '')]

function findTool (name: string): string | undefined {
  for (const dir of SEARCH) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch { /* not here */ }
  }
  return undefined
}

const runTool: RunToolFn = async (file, args, timeoutMs, signal) => await new Promise((resolve, reject) => {
  execFile(file, args, { timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, killSignal: 'SIGKILL', ...(signal === undefined ? {} : { signal }) }, (err: Error | null, stdout: string) => {
    // traceroute exits non-zero when the target is not reached within the TTLs: the hops still count.
    if (err !== null && stdout === '') reject(err)
    else resolve(stdout)
  })
})

/** Parses `traceroute -n` or `tracepath -n` output into hops. */
export function parseHops (output: string): HopEntry[] {
  const hops = new Map<number, string | null>()
  for (const line of output.split('\n')) {
    const m = /^\s*(\d+)[:?]?\s+(\S+)/.exec(line)
    if (m === null) continue
    const ttl = Number(m[1])
    const ip = tryParseIp(m[2])
    if (!hops.has(ttl) || (hops.get(ttl) === null && ip !== undefined)) hops.set(ttl, ip?.address ?? null)
  }
  return [...hops].sort((a, b) => a[0] - b[0]).map(([ttl, address]) => ({ ttl, address }))
}

/** Options for {@link findCarrierHop}. */
export interface CarrierHopOptions {
  /** IPv4 literal to probe toward (the STUN server); undefined: the check cannot run. */
  target: string | undefined
  /** Local addresses (to tell an overlay path). */
  locals: LocalAddress[]
  /** Deadline of the tool run. */
  timeoutMs: number
  signal?: AbortSignal | undefined
  /** Replaces running the tool. */
  run?: RunToolFn | undefined
  /** Replaces finding the tool (tests: no tool installed). */
  findTool?: ((name: string) => string | undefined) | undefined
}

function notRun (target: string | null, error: string): CarrierHopCheck {
  return { ran: false, tool: null, target, hops: [], carrier_hop: null, error }
}

/** Looks for a carrier-grade NAT hop toward `target`. Never rejects except on cancellation. */
export async function findCarrierHop (options: CarrierHopOptions): Promise<CarrierHopCheck> {
  const target = tryParseIp(options.target)
  if (target?.family !== 4) return notRun(options.target ?? null, 'no IPv4 address to trace toward (the STUN server is a name or missing)')
  let overlay: string | undefined
  try {
    const source = await sourceAddressToward(target.address, options.signal)
    overlay = options.locals.find(a => a.address === source && isOverlayInterface(a.interface))?.interface
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    return notRun(target.address, `no route toward ${target.address}: ${errorMessage(err)}`)
  }
  if (overlay !== undefined) return notRun(target.address, `the path leaves through the overlay interface ${overlay}: its hops say nothing about the carrier`)
  const find = options.findTool ?? findTool
  const traceroute = find('traceroute')
  const tracepath = traceroute === undefined ? find('tracepath') : undefined
  const ttl = String(CARRIER_HOP_MAX_TTL)
  const cmd = traceroute !== undefined
    ? { tool: 'traceroute' as const, file: traceroute, args: ['-n', '-q', '1', '-w', String(PROBE_WAIT_S), '-N', ttl, '-m', ttl, target.address] }
    : tracepath !== undefined ? { tool: 'tracepath' as const, file: tracepath, args: ['-n', '-m', ttl, target.address] } : undefined
  if (cmd === undefined) return notRun(target.address, 'neither traceroute nor tracepath is installed')
  let output: string
  try {
    output = await (options.run ?? runTool)(cmd.file, cmd.args, options.timeoutMs, options.signal)
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    return { ...notRun(target.address, `${cmd.tool} failed: ${errorMessage(err)}`), tool: cmd.tool }
  }
  const hops = parseHops(output).filter(h => h.ttl <= CARRIER_HOP_MAX_TTL)
  const carrier = hops.find(h => h.address !== null && h.address !== target.address && tryParseIp(h.address)?.range === 'carrierGradeNat') ?? null
  return { ran: hops.length > 0, tool: cmd.tool, target: target.address, hops, carrier_hop: carrier, error: hops.length > 0 ? null : `${cmd.tool} printed no hops` }
}
