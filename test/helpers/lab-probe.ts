/**
 * Runs the real `iicp-nat probe --json` CLI inside a lab client namespace and parses its
 * `iicp-nat-probe/v1` document; formats the per-topology result line for the closing table.
 */
import { fileURLToPath } from 'node:url'
import type { ProbeReport } from '../../nat/index.ts'
import { inNs, run } from '../lab/processes.ts'
import type { Topology } from '../lab/topologies.ts'
import type { JudgeVerdict } from './lab-judge.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const CLI = fileURLToPath(new URL('../../nat/bin/iicp-nat.ts', import.meta.url))

/** Hard deadline for one probe process (the probe's own deadline is 3 s, 8 s with --map). */
const PROBE_PROCESS_TIMEOUT_MS = 30_000

/** One probe run. */
export interface ProbeRun {
  report: ProbeReport
  /** The CLI's exit code. */
  exitCode: number | null
  /** Wall time of the whole process (spawn to exit), in milliseconds. */
  ms: number
  stderr: string
}

/** Runs `iicp-nat probe --json …args` in `clientNs` (with extra `env`); throws with the output when it does not print a report. */
export async function runProbe (clientNs: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProbeRun> {
  const [cmd, argv] = inNs(clientNs, process.execPath, [CLI, 'probe', '--json', ...args])
  const r = await run(cmd, argv, { timeoutMs: PROBE_PROCESS_TIMEOUT_MS, cwd: REPO, env })
  let report: ProbeReport
  try {
    report = JSON.parse(r.stdout) as ProbeReport
  } catch {
    throw new Error(`iicp-nat probe ${args.join(' ')} printed no JSON (exit ${r.code ?? r.signal ?? '?'}${r.timedOut ? ', timed out' : ''}):\n${r.stdout}\n${r.stderr}`)
  }
  return { report, exitCode: r.code, ms: r.ms, stderr: r.stderr }
}

/**
 * The standard probe arguments for a topology: our lab STUN server (RFC 5780) plus coturn as a
 * second server (UDP counts as blocked only when two servers stay silent), both reflector
 * addresses (a failure refutes only when two reflectors agree), IPv6 only where the topology has it.
 */
export function probeArgs (lab: { stun: string | undefined, coturn?: string | undefined, reflectorUrl: string | undefined, reflectorUrlV6: string | undefined, reflectorUrls2?: { v4: string, v6: string } | undefined }, t: Topology, port: number): string[] {
  if (lab.stun === undefined || lab.reflectorUrl === undefined) throw new Error('the lab runs without our STUN server or reflector')
  const args = ['--stun', lab.stun, ...(lab.coturn === undefined ? [] : ['--stun', lab.coturn]), '--reflector', lab.reflectorUrl, '--port', String(port)]
  if (lab.reflectorUrls2 !== undefined) args.push('--reflector', lab.reflectorUrls2.v4)
  if (t.clientV6 === undefined) args.push('--no-v6')
  else if (lab.reflectorUrlV6 !== undefined) {
    args.push('--reflector', lab.reflectorUrlV6)
    if (lab.reflectorUrls2 !== undefined) args.push('--reflector', lab.reflectorUrls2.v6)
  }
  return args
}

/** One `# lab-result …` line: the probe's verdict next to the judges', and the probe's wall time. */
export function resultLine (t: Topology, run: ProbeRun, judge: JudgeVerdict | undefined, extra: Record<string, string | number | boolean> = {}): string {
  const r = run.report
  const fields: Record<string, string | number | boolean | null> = {
    topology: t.name,
    mapping: r.nat_behavior.mapping,
    filtering: r.nat_behavior.filtering,
    nat_type: r.nat_type,
    udp_blocked: r.nat_behavior.udp_blocked,
    cgnat: r.cgnat.detected,
    exposure: r.exposure_mode,
    verification: r.verification,
    exit: run.exitCode,
    ...(judge === undefined
      ? {}
      : {
          judge_mapping: judge.mapping,
          judge_filtering: judge.filtering,
          judge_inbound_v4: judge.inboundV4,
          ...(judge.inboundV6 === undefined ? {} : { judge_inbound_v6: judge.inboundV6 })
        }),
    ...extra,
    probe_ms: Math.round(run.ms)
  }
  return `# lab-result ${Object.entries(fields).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`
}
