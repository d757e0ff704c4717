/**
 * The benchmark's server processes (bench-server.ts in a child each): start one and read its
 * ports, ask it for its CPU and allocation figures over IPC, stop it. With `cpuProfDir` each
 * child writes a V8 CPU profile there when it exits (`--cpu-prof`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { ProcessStats } from './process-stats.ts'
import { YOUNG_GENERATION_FLAGS } from '../../src/cli/gc-headroom.ts'

/** A running benchmark child. */
export interface BenchChild {
  child: ChildProcess
  /** The JSON line it printed when ready (ports). */
  info: Record<string, number>
}

/** `BENCH_NODE_FLAGS`: Node/V8 flags for every child (e.g. `--initial-old-space-size=64`), as an operator would run the servers. */
const V8_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(f => f !== '')
/** The relay and the worker start with the flags of their commands' `#!` line (IICP_GC_HEADROOM=off: without). */
const CLI_FLAGS: readonly string[] = process.env.IICP_GC_HEADROOM === 'off' ? [] : YOUNG_GENERATION_FLAGS
const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 5_000
const STATS_TIMEOUT_MS = 5_000

/**
 * Starts `bench-server.ts ARGS` (or another child entry) and resolves once it printed its ready
 * line (a JSON object). Its other output lines, such as V8 tracing from `BENCH_NODE_FLAGS`
 * (`--trace-deopt`), go to stderr marked with its role; the child is killed if it never gets ready.
 */
export async function startChild (args: string[], cpuProfDir?: string, entry = new URL('./bench-server.ts', import.meta.url)): Promise<BenchChild> {
  const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${args[0] ?? 'child'}-${Date.now()}.cpuprofile`]
  const cli = args[0] === 'relay' || args[0] === 'worker' ? CLI_FLAGS : []
  const child = spawn(process.execPath, [...prof, ...cli, ...V8_FLAGS, entry.pathname, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const ready = new Promise<string>((resolve) => {
    let waiting = true
    lines.on('line', (line: string) => {
      if (waiting && line.startsWith('{')) {
        waiting = false
        resolve(line)
      } else {
        process.stderr.write(`[${args[0] ?? 'child'}] ${line}\n`)
      }
    })
  })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, START_TIMEOUT_MS)
  try {
    const line = await Promise.race([
      ready,
      once(child, 'exit').then(() => { throw new Error(`bench child ${args.join(' ')} exited early`) })
    ])
    return { child, info: JSON.parse(line) as Record<string, number> }
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/** The child's CPU time and allocations since its previous report. */
export async function statsOf (c: BenchChild): Promise<ProcessStats> {
  const answer = once(c.child, 'message', { signal: AbortSignal.timeout(STATS_TIMEOUT_MS) }) as Promise<[ProcessStats]>
  c.child.send('stats')
  return (await answer)[0]
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
export async function stopChild (c: BenchChild): Promise<void> {
  const { child } = c
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const t = setTimeout(() => { child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
  await exited
  clearTimeout(t)
}
