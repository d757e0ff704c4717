/**
 * Child processes for the NAT lab: one-shot commands with a hard deadline, and long-running
 * servers whose PID we keep, whose output we watch for a "ready" line, and which we stop
 * by that PID only (SIGTERM, bounded wait, then SIGKILL).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

/** Most output kept per stream of one process (older output is dropped first). */
const MAX_OUTPUT_CHARS = 256 * 1024

/** Result of a one-shot command. */
export interface RunResult {
  /** Exit code, or null when the process ended by a signal. */
  code: number | null
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number
  /** True when the deadline passed and the lab killed the process. */
  timedOut: boolean
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Hard deadline; the process is killed (SIGTERM, then SIGKILL 1 s later) when it passes. */
  timeoutMs: number
  /** Text written to stdin (stdin is closed afterwards). */
  input?: string
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv
  /** Working directory. @default process.cwd() */
  cwd?: string
}

/** The argv that runs `cmd args…` inside network namespace `ns` (`ip netns exec` execs in place, so the PID is the command's). */
export function inNs (ns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]]
}

function appendBounded (buf: string, chunk: string): string {
  const next = buf + chunk
  return next.length > MAX_OUTPUT_CHARS ? next.slice(next.length - MAX_OUTPUT_CHARS) : next
}

/** Runs a command to completion (or until its deadline), collecting bounded output. Never rejects for a non-zero exit. */
export async function run (cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const started = performance.now()
  const child = spawn(cmd, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
    cwd: opts.cwd ?? process.cwd()
  })
  let stdout = ''
  let stderr = ''
  let timedOut = false
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout = appendBounded(stdout, c) })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = appendBounded(stderr, c) })
  child.stdin.on('error', () => { /* the command may exit before reading its input */ })
  child.stdin.end(opts.input ?? '')
  let killTimer: NodeJS.Timeout | undefined
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGTERM')
    killTimer = setTimeout(() => { child.kill('SIGKILL') }, 1000)
  }, opts.timeoutMs)
  try {
    const { code, signal } = await new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (c: number | null, s: NodeJS.Signals | null) => { resolve({ code: c, signal: s }) })
    })
    return { code, signal, stdout, stderr, ms: performance.now() - started, timedOut }
  } finally {
    clearTimeout(timer)
    clearTimeout(killTimer)
  }
}

/** Runs a command and returns its stdout; throws with the command line and stderr on a non-zero exit or timeout. */
export async function runOk (cmd: string, args: readonly string[], opts: RunOptions): Promise<string> {
  const r = await run(cmd, args, opts)
  if (r.code !== 0 || r.timedOut) {
    const how = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exited with ${r.code ?? r.signal ?? '?'}`
    throw new Error(`${cmd} ${args.join(' ')} ${how}: ${r.stderr.trim() || r.stdout.trim()}`)
  }
  return r.stdout
}

/** How a long-running process ended. */
export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A long-running lab process (server, daemon) that the lab owns by PID. */
export interface LabProcess {
  /** Short label used in messages. */
  readonly name: string
  /** The PID we spawned (the command itself: `ip netns exec` execs in place). */
  readonly pid: number
  /** Everything printed so far on stdout and stderr (bounded: the oldest output is dropped first). */
  output: () => string
  /** A position in the output stream: the number of characters printed so far. */
  mark: () => number
  /** The output printed after `mark` (as far as it is still retained). */
  since: (mark: number) => string
  /**
   * Resolves with the first match of `pattern` in the output (after `from`, a {@link LabProcess.mark}),
   * rejects on exit or after `timeoutMs`.
   */
  waitFor: (pattern: RegExp, timeoutMs: number, from?: number) => Promise<RegExpMatchArray>
  /** Settles when the process has exited. */
  readonly exited: Promise<ProcessExit>
  /** Sends SIGTERM to our PID, waits up to `graceMs`, then SIGKILL and waits again. Idempotent. */
  stop: (graceMs?: number) => Promise<void>
}

/** Starts a long-running process. It is never detached: it dies with our kill, and we keep its PID. */
export function startProcess (name: string, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string } = {}): LabProcess {
  const child: ChildProcess = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
    cwd: opts.cwd ?? process.cwd()
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not spawn ${name} (${cmd})`)
  let out = ''
  let written = 0
  const listeners = new Set<() => void>()
  const since = (mark: number): string => out.slice(Math.max(0, out.length - (written - mark)))
  const onData = (c: string): void => {
    out = appendBounded(out, c)
    written += c.length
    for (const l of [...listeners]) l()
  }
  child.stdout?.setEncoding('utf8').on('data', onData)
  child.stderr?.setEncoding('utf8').on('data', onData)
  let exitInfo: ProcessExit | undefined
  const exited = new Promise<ProcessExit>(resolve => {
    child.once('error', () => { exitInfo ??= { code: null, signal: null }; resolve(exitInfo) })
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      exitInfo ??= { code, signal }
      resolve(exitInfo)
      for (const l of [...listeners]) l()
    })
  })

  const waitFor = async (pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const m = since(from).match(pattern)
      if (m !== null) { done(); resolve(m); return }
      if (exitInfo !== undefined) {
        done()
        reject(new Error(`${name} exited (${exitInfo.code ?? exitInfo.signal ?? '?'}) before printing ${String(pattern)}; output:\n${out.slice(-2000)}`))
      }
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`${name} did not print ${String(pattern)} within ${timeoutMs} ms; output:\n${out.slice(-2000)}`))
    }, timeoutMs)
    const done = (): void => { clearTimeout(timer); listeners.delete(check) }
    listeners.add(check)
    check()
  })

  let stopping: Promise<void> | undefined
  const stop = async (graceMs = 2000): Promise<void> => {
    stopping ??= (async () => {
      if (exitInfo !== undefined) return
      child.kill('SIGTERM')
      if (await exitedWithin(exited, graceMs)) return
      child.kill('SIGKILL')
      if (!await exitedWithin(exited, 2000)) throw new Error(`${name} (pid ${pid}) did not exit after SIGKILL`)
    })()
    await stopping
  }

  return { name, pid, output: () => out, mark: () => written, since, waitFor, exited, stop }
}

async function exitedWithin (exited: Promise<ProcessExit>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([exited.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}
