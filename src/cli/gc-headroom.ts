/**
 * Garbage-collection headroom for the long-running data movers (`iicp-relay`, `iicp-worker`).
 *
 * A relay or worker moving large bodies allocates a Buffer (an ArrayBuffer outside the JS heap)
 * per task and keeps it for the task's life, often past a young-generation collection, while its
 * JS heap stays small (about 11 MB). V8 sizes the old generation's next limit as a factor of the
 * live heap, chosen dynamically and often near its minimum under this load, and the promoted
 * buffers reach that limit within a few tasks: with 1 MiB bodies at 8 in flight a relay ran one
 * full mark-compact every 5 tasks, most of its CPU per task. A fixed growing factor of 4 (V8's own
 * upper bound for its dynamic factor) cuts the mark-compacts by about three and the relay's CPU
 * per 1 MiB task by 25–45 % in the bench (README, Benchmark); the heap's maximum
 * (`--max-old-space-size`) still bounds it. The CLIs apply it at start-up; library users own
 * their process and decide for themselves.
 */
import { setFlagsFromString } from 'node:v8'

/**
 * Node flags the `iicp-relay` and `iicp-worker` commands start with (their shims' `#!` line; V8
 * reads them only at start-up, so they cannot be set from here): a young generation of a fixed
 * 8 MiB per semi-space. V8's default grows and shrinks it with the allocation rate, and each
 * shrink hands pages back that the next growth faults in again; a relay at 1 KiB c64 took about
 * 0.4 page faults per task that way against 0.1 with the fixed size, and 10–13 % more CPU per
 * task (README, Benchmark). Operators who start node themselves pass their own.
 */
export const YOUNG_GENERATION_FLAGS = ['--min-semi-space-size=8', '--max-semi-space-size=8'] as const

/** The growing factor's percentage above 1: 300 is a factor of 4. */
export const GC_HEAP_GROWING_PERCENT = 300

/**
 * Whether the headroom applies: not when the operator set a growing factor of their own on the
 * command line (`node --heap-growing-percent=N …`), nor with `IICP_GC_HEADROOM=off`.
 */
export function gcHeadroomWanted (execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return env.IICP_GC_HEADROOM !== 'off' && !execArgv.some(a => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))
}

/**
 * Sets V8's old-generation growing factor to {@link GC_HEAP_GROWING_PERCENT} unless
 * {@link gcHeadroomWanted} says no; returns whether it did. V8 reads the factor each time it
 * computes a new limit, so setting it once the process runs takes effect from the next full GC.
 */
export function applyGcHeadroom (execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!gcHeadroomWanted(execArgv, env)) return false
  setFlagsFromString(`--heap-growing-percent=${GC_HEAP_GROWING_PERCENT}`)
  return true
}
