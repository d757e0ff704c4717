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
 * (`--max-old-space-size`) still bounds it. Where V8 has it (13.6, Node 24), the headroom also
 * counts the buffers' memory in V8's global limit (`--external-memory-accounted-in-global-limit`)
 * rather than starting a mark-compact for every 64 MiB of them: half the mark-compacts again and
 * 14–29 % (relay) and 21–34 % (worker) less CPU per 1 MiB task, for a larger RSS under that load
 * (README, Benchmark). The CLIs apply it at start-up; library users own their process and decide for
 * themselves.
 */
import { setFlagsFromString } from 'node:v8'

/**
 * Node flags the `iicp-relay` and `iicp-worker` commands start with (their shims' `#!` line; V8
 * reads them only at start-up, so they cannot be set from here), both about the young generation:
 *
 * - a fixed 8 MiB per semi-space. V8's default grows and shrinks it with the allocation rate, and
 *   each shrink hands pages back that the next growth faults in again; a relay at 1 KiB c64 took
 *   about 0.4 page faults per task that way against 0.1 with the fixed size, and 10–13 % more CPU
 *   per task (README, Benchmark).
 * - every new object starts in it (`--no-allocation-site-pretenuring`). V8 otherwise watches how
 *   many objects of an allocation site are still alive at a young collection and, above 85 %,
 *   allocates that site's objects in the old generation from then on, for good. A burst of calls
 *   in flight (64 at once, say) makes that true for the sites of a relayed call (its pending
 *   entry, deadline, promise), so that afterwards every call's objects, dead a millisecond later,
 *   went to the old generation: about 1.1 KiB per task at one call at a time, cleared only by
 *   mark-compacts (one every ~15 s), and 9–10 µs more relay CPU per task (README, Benchmark).
 *
 * Operators who start node themselves pass their own.
 */
export const YOUNG_GENERATION_FLAGS = ['--min-semi-space-size=8', '--max-semi-space-size=8', '--no-allocation-site-pretenuring'] as const

/** The growing factor's percentage above 1: 300 is a factor of 4. */
export const GC_HEAP_GROWING_PERCENT = 300

/**
 * Counts external memory (Buffers) in V8's global heap limit instead of its own 64 MiB steps.
 * Set only on a V8 known to have it: an older one prints an error for an unknown flag.
 */
export const EXTERNAL_MEMORY_FLAG = '--external-memory-accounted-in-global-limit'

/** True when V8 `version` (`process.versions.v8`) is 13.6 or later, which has {@link EXTERNAL_MEMORY_FLAG}. */
export function hasExternalMemoryFlag (version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 13 || (major === 13 && minor >= 6)
}

/**
 * Whether the headroom applies: not when the operator set a growing factor of their own on the
 * command line (`node --heap-growing-percent=N …`), nor with `IICP_GC_HEADROOM=off`.
 */
export function gcHeadroomWanted (execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return env.IICP_GC_HEADROOM !== 'off' && !execArgv.some(a => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))
}

/**
 * Sets V8's old-generation growing factor to {@link GC_HEAP_GROWING_PERCENT}, and
 * {@link EXTERNAL_MEMORY_FLAG} where V8 has it and the command line does not already say,
 * unless {@link gcHeadroomWanted} says no; returns whether it did. V8 reads both each time it
 * computes a new limit, so setting them once the process runs takes effect from the next GC.
 */
export function applyGcHeadroom (execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env, v8Version: string = process.versions.v8): boolean {
  if (!gcHeadroomWanted(execArgv, env)) return false
  setFlagsFromString(`--heap-growing-percent=${GC_HEAP_GROWING_PERCENT}`)
  if (hasExternalMemoryFlag(v8Version) && !execArgv.some(a => /external[-_]memory[-_]accounted/.test(a))) setFlagsFromString(EXTERNAL_MEMORY_FLAG)
  return true
}
