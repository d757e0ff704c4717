/**
 * The JIT warm-up a bench path serves before its first measured load, so that the loads measure
 * each process's steady state, the one a relay in service has long reached: V8 optimizes a
 * function after a budget of work, and at c1 rates a relay's code was still being compiled and
 * deoptimized 8–10 s after start, inside the first load. Two one-off events deoptimize code that
 * was already optimized, so the warm-up gets them behind it before its bulk: the first keep-alive
 * connections that close (V8 then generalizes the hidden classes of node:http's, node:net's and
 * the streams' objects, and 50–65 of their functions deoptimize at once, "wrong map"), and the
 * first load at c64 (several frames per socket read, frames cut across reads: branches a c8 load
 * rarely takes). So each path serves, in this order: {@link JIT_WARMUP_CHURN_REQUESTS} 1 KiB
 * requests at c64 on connections that then close, the 1 MiB part, and the 1 KiB bulk at c8.
 * `BENCH_JIT_WARMUP_REQUESTS` (default 40,000; 0 turns the warm-up off) bounds the bulk; the
 * other two parts scale with it.
 */
import { taskBody } from './echo.ts'
import type { LoadOptions } from './load.ts'

/** 1 KiB requests (at c8) each path serves at most in the warm-up's bulk. */
export const JIT_WARMUP_REQUESTS = Math.max(0, Number(process.env.BENCH_JIT_WARMUP_REQUESTS ?? 40_000) || 0)
/** The warm-up's first part for a bulk of `requests`: a twentieth of it. */
const churnRequests = (requests: number): number => Math.ceil(requests / 20)
/** 1 KiB requests (at c64) each path serves first, on connections that then close. */
export const JIT_WARMUP_CHURN_REQUESTS = churnRequests(JIT_WARMUP_REQUESTS)
/** 1 MiB requests (at c2) each path serves at most in the warm-up's second part. */
export const JIT_WARMUP_LARGE_REQUESTS = Math.ceil(JIT_WARMUP_REQUESTS / 100)
/** Upper bound on each path's 1 KiB parts (each). */
export const JIT_WARMUP_MS = 10_000
/** Upper bound on each path's 1 MiB part. */
export const JIT_WARMUP_LARGE_MS = 2_000
/** The warm-up's concurrency in its first 1 KiB part, the bulk, and the 1 MiB part. */
export const JIT_WARMUP_CONCURRENCY = { churn: 64, small: 8, large: 2 } as const

/**
 * The keepalive PING interval of the benches' in-process workers (the default is 30 s). A relay
 * in service reads PINGs between tasks all the time (1,000 workers send 33 a second); a bench's
 * one worker sent its first 30 s after binding, inside a measured load, and that first PING
 * deoptimized the frame decoders of relay and worker (their optimized code had never seen one),
 * which then ran unoptimized or half-optimized code for about 10 s. Every 2 s, the PINGs come
 * during the warm-up and cost nothing measurable (one small frame each way per 2 s).
 */
export const BENCH_PING_INTERVAL_MS = 2_000

/** A report header's words for a warm-up of `requests` (what it was, or that there was none). */
export function jitWarmupDescription (requests: number = JIT_WARMUP_REQUESTS): string {
  return requests > 0
    ? `each path first served ${churnRequests(requests)} 1 KiB requests at c${JIT_WARMUP_CONCURRENCY.churn}, some 1 MiB ones, then up to ${requests} 1 KiB at c${JIT_WARMUP_CONCURRENCY.small} (JIT warm-up, not counted)`
    : 'no JIT warm-up'
}

/**
 * The warm-up's three loads on `url`, for `runLoad`, to be served in the order `churn`, `large`,
 * `small`; none when it is off.
 */
export function jitWarmupLoads (url: URL): { churn: LoadOptions, large: LoadOptions, small: LoadOptions } | undefined {
  if (JIT_WARMUP_REQUESTS === 0) return undefined
  return {
    churn: { url, body: taskBody(1024), concurrency: JIT_WARMUP_CONCURRENCY.churn, durationMs: JIT_WARMUP_MS, warmupMs: 0, maxRequests: JIT_WARMUP_CHURN_REQUESTS },
    small: { url, body: taskBody(1024), concurrency: JIT_WARMUP_CONCURRENCY.small, durationMs: JIT_WARMUP_MS, warmupMs: 0, maxRequests: JIT_WARMUP_REQUESTS },
    large: { url, body: taskBody(1024 * 1024), concurrency: JIT_WARMUP_CONCURRENCY.large, durationMs: JIT_WARMUP_LARGE_MS, warmupMs: 0, maxRequests: JIT_WARMUP_LARGE_REQUESTS }
  }
}
