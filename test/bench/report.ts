/**
 * The benchmark's text report: one table of throughput and latency, one of cost per request
 * (CPU and allocations of the echo server, relay and worker), one of the minimal reference relay
 * in the same slices, and the issue-13 targets with their measured values, each beside what the
 * reference relay reaches. With several runs every cell is `median (min–max)`.
 */
import type { LoadResult } from './load.ts'
import { jitWarmupDescription } from './jit-warmup.ts'
import { median } from './median.ts'

/** CPU and allocations of one process per request. */
export interface ProcessCost {
  cpuUsPerRequest: number
  /** The kernel (system) part of {@link ProcessCost.cpuUsPerRequest}, µs. */
  sysUsPerRequest: number
  heapBytesPerRequest: number
  externalBytesPerRequest: number
  /** Garbage collection time per request (µs), part of the CPU figure. */
  gcUsPerRequest: number
}

/** One load (size × concurrency) of one run. */
export interface LoadRow {
  size: string
  concurrency: number
  direct: LoadResult
  relayed: LoadResult
  echo: ProcessCost
  relay: ProcessCost
  worker: ProcessCost
  /** The same server answering `/v1/raw` (the body back unparsed), measured at c64 and c8. */
  floor?: ProcessCost
  /** The minimal reference relay and its echo worker (minimal-relay.ts), in the same slices. */
  minimal: { relayed: LoadResult, relay: ProcessCost, worker: ProcessCost }
}

/**
 * CPU per request (µs) of each process while it served the JIT warm-up's 1 KiB bulk at c8,
 * before any load was measured: `echo` is [echo server], `relay` [relay, worker], `minimal`
 * [reference relay, its worker].
 */
export interface JitWarmup {
  /** Requests each path served in the 1 KiB part (the most of any path). */
  requests: number
  echo: number[]
  relay: number[]
  minimal: number[]
}

/** What the report header says about the runs. */
export interface ReportHeader {
  node: string
  durationMs: number
  warmupMs: number
  /** 1 KiB requests (c8) each path served before the first load, so that its code is optimized. */
  jitWarmupRequests: number
  /** Interleaved slices per path and load. */
  slices: number
  runs: number
}

const fmt = (n: number, d: number): string => Number.isFinite(n) ? n.toFixed(d) : 'n/a'

/** `median (min–max)` of `pick` over the runs, or the single value. */
function cell<T> (rows: readonly T[], pick: (r: T) => number, digits: number): string {
  const xs = rows.map(pick)
  if (xs.length === 1) return fmt(xs[0] as number, digits)
  return `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`
}

/** CPU per request with its system part: `total [sys]`. */
const cpuCell = (rows: LoadRow[], pick: (r: LoadRow) => ProcessCost): string =>
  `${cell(rows, r => pick(r).cpuUsPerRequest, 1)} [${cell(rows, r => pick(r).sysUsPerRequest, 1)}]`

const ratio = (r: LoadRow): number => r.relayed.reqPerSec / r.direct.reqPerSec
const kb = (c: ProcessCost): number => (c.heapBytesPerRequest + c.externalBytesPerRequest) / 1024

/** Formats every run's rows (same loads in the same order in each run). */
export function formatReport (h: ReportHeader, runs: LoadRow[][], warmups: JitWarmup[] = []): string {
  const first = runs[0] ?? []
  const byLoad = first.map((_, i) => runs.map(run => run[i] as LoadRow))
  const out: string[] = []
  out.push(`node ${h.node}, ${jitWarmupDescription(h.jitWarmupRequests)}; ${h.durationMs} ms per path and load in ${h.slices} interleaved slices (the first after ${h.warmupMs} ms of warm-up), loopback, ${h.runs} run(s)${h.runs > 1 ? ': median (min–max)' : ''}`)
  if (warmups.length > 0) {
    const us = (pick: (w: JitWarmup) => number | undefined): string => cell(warmups, w => pick(w) ?? Number.NaN, 1)
    out.push(`CPU per request during the JIT warm-up's 1 KiB bulk (c8, on processes a few seconds old; not in the tables), µs: echo server ${us(w => w.echo[0])}, ` +
      `relay ${us(w => w.relay[0])}, worker ${us(w => w.relay[1])}; reference relay ${us(w => w.minimal[0])}, its worker ${us(w => w.minimal[1])}`)
  }
  out.push('')
  /** A markdown table with one row per load: `cells` gives the columns after the load's name. */
  const table = (header: string[], cells: (rows: LoadRow[]) => string[]): void => {
    out.push(`| load | ${header.join(' | ')} |`, `|---|${header.map(() => '---|').join('')}`)
    for (const rows of byLoad) {
      const r0 = rows[0] as LoadRow
      out.push(`| ${r0.size} c${r0.concurrency} | ${cells(rows).join(' | ')} |`)
    }
  }
  table(['direct req/s', 'relayed req/s', 'ratio', 'p50 ms direct / relayed', 'added p50 ms', 'p99 ms direct / relayed', 'errors d/r'], rows => [
    cell(rows, r => r.direct.reqPerSec, 0), cell(rows, r => r.relayed.reqPerSec, 0), cell(rows, ratio, 2),
    `${cell(rows, r => r.direct.p50Ms, 3)} / ${cell(rows, r => r.relayed.p50Ms, 3)}`, cell(rows, r => r.relayed.p50Ms - r.direct.p50Ms, 3),
    `${cell(rows, r => r.direct.p99Ms, 3)} / ${cell(rows, r => r.relayed.p99Ms, 3)}`, rows.map(r => `${r.direct.errors}/${r.relayed.errors}`).join(' ')
  ])
  out.push('')
  out.push('CPU per request (µs, user + system; system part in brackets) and allocations per request (KiB, JS heap + external, estimated from GC statistics):')
  out.push('')
  table(['echo server CPU', 'relay CPU', 'worker CPU', 'relay/echo', 'worker/echo', 'GC µs echo / relay / worker', 'relay KiB', 'worker KiB', 'echo KiB'], rows => [
    cpuCell(rows, r => r.echo), cpuCell(rows, r => r.relay), cpuCell(rows, r => r.worker),
    cell(rows, r => r.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2), cell(rows, r => r.worker.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2),
    `${cell(rows, r => r.echo.gcUsPerRequest, 0)} / ${cell(rows, r => r.relay.gcUsPerRequest, 0)} / ${cell(rows, r => r.worker.gcUsPerRequest, 0)}`,
    cell(rows, r => kb(r.relay), 1), cell(rows, r => kb(r.worker), 1), cell(rows, r => kb(r.echo), 1)
  ])
  out.push('')
  out.push('The minimal reference relay in the same slices (node:http front, one TCP link, no checks, limits, deadlines, metrics or IICP framing; its worker runs the same echo handler):')
  out.push('')
  table(['req/s', 'ratio to direct', 'added p50 ms', 'relay CPU', 'worker CPU', 'relay/echo', 'worker/echo'], rows => [
    cell(rows, r => r.minimal.relayed.reqPerSec, 0), cell(rows, r => r.minimal.relayed.reqPerSec / r.direct.reqPerSec, 2),
    cell(rows, r => r.minimal.relayed.p50Ms - r.direct.p50Ms, 3), cpuCell(rows, r => r.minimal.relay), cpuCell(rows, r => r.minimal.worker),
    cell(rows, r => r.minimal.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2), cell(rows, r => r.minimal.worker.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)
  ])
  /** ` (minimal relay: X)`: what the reference relay reaches for a target. */
  const ref = (rows: LoadRow[], pick: (m: LoadRow['minimal'], r: LoadRow) => number, digits: number): string =>
    ` (minimal relay: ${cell(rows, r => pick(r.minimal, r), digits)})`
  const find = (size: string, c: number): LoadRow[] | undefined => byLoad.find(rows => rows[0]?.size === size && rows[0].concurrency === c)
  const k1 = find('1 KiB', 1)
  const k64 = find('1 KiB', 64)
  const m1 = find('1 MiB', 1)
  const m8 = find('1 MiB', 8)
  out.push('')
  out.push('Targets (issue 13):')
  if (k64 !== undefined) {
    out.push(`- relay CPU / echo CPU, 1 KiB c64: ${cell(k64, r => r.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)} (target <= 1.0)${ref(k64, (m, r) => m.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)}`)
    if (k64.every(r => r.floor !== undefined)) {
      out.push(`  (floor: the echo server sending the body back unparsed costs ${cell(k64, r => r.floor?.cpuUsPerRequest ?? Number.NaN, 1)} µs = ` +
        `${cell(k64, r => (r.floor?.cpuUsPerRequest ?? Number.NaN) / r.echo.cpuUsPerRequest, 2)}× the echo server: what node:http costs before any relaying)`)
    }
  }
  for (const rows of [m1, m8]) {
    if (rows === undefined) continue
    out.push(`- relay CPU / echo CPU, 1 MiB c${rows[0]?.concurrency}: ${cell(rows, r => r.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)} (target <= 0.3)${ref(rows, (m, r) => m.relay.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)}`)
  }
  for (const rows of [k64, m1, m8]) {
    if (rows === undefined) continue
    out.push(`- worker CPU / echo CPU, ${rows[0]?.size} c${rows[0]?.concurrency}: ${cell(rows, r => r.worker.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)} (target <= 0.8)${ref(rows, (m, r) => m.worker.cpuUsPerRequest / r.echo.cpuUsPerRequest, 2)}`)
    if (rows[0]?.size === '1 MiB' && rows.every(r => r.floor !== undefined)) {
      // The echo handler's JSON work (parse the task, serialise the answer) is what the worker runs too.
      out.push(`  (the echo server's JSON work: ${cell(rows, r => 1 - (r.floor?.cpuUsPerRequest ?? Number.NaN) / r.echo.cpuUsPerRequest, 2)}× its CPU; ` +
        `the body sent back unparsed costs ${cell(rows, r => (r.floor?.cpuUsPerRequest ?? Number.NaN) / r.echo.cpuUsPerRequest, 2)}×)`)
    }
  }
  for (const rows of [k64, m1, m8]) {
    if (rows === undefined) continue
    out.push(`- relayed/direct req/s, ${rows[0]?.size} c${rows[0]?.concurrency}: ${cell(rows, ratio, 2)} (target >= 0.65)${ref(rows, (m, r) => m.relayed.reqPerSec / r.direct.reqPerSec, 2)}`)
  }
  if (k1 !== undefined) out.push(`- added p50, 1 KiB c1: ${cell(k1, r => r.relayed.p50Ms - r.direct.p50Ms, 3)} ms (target <= 0.15 ms)${ref(k1, (m, r) => m.relayed.p50Ms - r.direct.p50Ms, 3)}`)
  return `${out.join('\n')}\n`
}
