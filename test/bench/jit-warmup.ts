/**
 * The JIT warm-up a bench path serves before its first measured load, so that the loads measure
 * each process's steady state: V8 optimizes a function after a budget of work, and at c1 rates a
 * relay's code was still being compiled and deoptimized 8–10 s after start, inside the first load.
 * `BENCH_JIT_WARMUP_REQUESTS` (default 40,000; 0 turns the warm-up off) bounds the 1 KiB part.
 */
import { taskBody } from './echo.ts'
import type { LoadOptions } from './load.ts'

/** 1 KiB requests (at c8) each path serves at most before the first load. */
export const JIT_WARMUP_REQUESTS = Math.max(0, Number(process.env.BENCH_JIT_WARMUP_REQUESTS ?? 40_000) || 0)
/** 1 MiB requests (at c2) each path serves at most in the warm-up's second part. */
export const JIT_WARMUP_LARGE_REQUESTS = Math.ceil(JIT_WARMUP_REQUESTS / 100)
/** Upper bound on each path's 1 KiB part. */
export const JIT_WARMUP_MS = 10_000
/** Upper bound on each path's 1 MiB part. */
export const JIT_WARMUP_LARGE_MS = 2_000
/** The warm-up's concurrency for 1 KiB and for 1 MiB. */
export const JIT_WARMUP_CONCURRENCY = { small: 8, large: 2 } as const

/** A report header's words for a warm-up of `requests` (what it was, or that there was none). */
export function jitWarmupDescription (requests: number = JIT_WARMUP_REQUESTS): string {
  return requests > 0
    ? `each path first served up to ${requests} 1 KiB requests at c${JIT_WARMUP_CONCURRENCY.small} and some 1 MiB ones (JIT warm-up, not counted)`
    : 'no JIT warm-up'
}

/** The warm-up's two loads on `url` (1 KiB, then 1 MiB), for `runLoad`; none when it is off. */
export function jitWarmupLoads (url: URL): { small: LoadOptions, large: LoadOptions } | undefined {
  if (JIT_WARMUP_REQUESTS === 0) return undefined
  return {
    small: { url, body: taskBody(1024), concurrency: JIT_WARMUP_CONCURRENCY.small, durationMs: JIT_WARMUP_MS, warmupMs: 0, maxRequests: JIT_WARMUP_REQUESTS },
    large: { url, body: taskBody(1024 * 1024), concurrency: JIT_WARMUP_CONCURRENCY.large, durationMs: JIT_WARMUP_LARGE_MS, warmupMs: 0, maxRequests: JIT_WARMUP_LARGE_REQUESTS }
  }
}
