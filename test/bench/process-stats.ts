/**
 * Per-process cost figures for the benchmark children: CPU time (`process.cpuUsage()`) and an
 * estimate of the bytes allocated (JS heap and external memory such as Buffers), from V8's GC
 * profiler: the growth between collections plus the growth since the last one.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8'

/** What a child reports when asked (IPC message `'stats'`). */
export interface ProcessStats {
  /** User + system CPU since the process started, µs. */
  cpuUs: number
  /** The system (kernel) part of it, µs. */
  sysUs: number
  /** Heap bytes allocated since the previous report (estimate). */
  heapAllocated: number
  /** External (ArrayBuffer/Buffer) bytes allocated since the previous report (estimate). */
  externalAllocated: number
  /** Garbage collections since the previous report. */
  gcs: number
  /** Time spent in them, µs. */
  gcUs: number
}

interface HeapPoint { usedHeapSize: number, externalMemory: number }

/** Tracks allocations between reports; call {@link StatsTracker.report} to read and restart. */
export class StatsTracker {
  #profiler = new GCProfiler()
  #start: HeapPoint

  constructor () {
    this.#start = StatsTracker.#now()
    this.#profiler.start()
  }

  static #now (): HeapPoint {
    const h = getHeapStatistics()
    return { usedHeapSize: h.used_heap_size, externalMemory: h.external_memory }
  }

  /** The figures since the previous report. */
  report (): ProcessStats {
    const data = this.#profiler.stop()
    const end = StatsTracker.#now()
    let heap = 0
    let external = 0
    let prev = this.#start
    let gcUs = 0
    for (const gc of data?.statistics ?? []) {
      gcUs += gc.cost
      const before = gc.beforeGC.heapStatistics
      heap += Math.max(0, before.usedHeapSize - prev.usedHeapSize)
      external += Math.max(0, before.externalMemory - prev.externalMemory)
      prev = gc.afterGC.heapStatistics
    }
    heap += Math.max(0, end.usedHeapSize - prev.usedHeapSize)
    external += Math.max(0, end.externalMemory - prev.externalMemory)
    const cpu = process.cpuUsage()
    this.#profiler = new GCProfiler()
    this.#start = StatsTracker.#now()
    this.#profiler.start()
    return { cpuUs: cpu.user + cpu.system, sysUs: cpu.system, heapAllocated: heap, externalAllocated: external, gcs: data?.statistics.length ?? 0, gcUs }
  }
}

/** Answers `'stats'` messages from the parent with a {@link ProcessStats}. */
export function serveStats (): void {
  const tracker = new StatsTracker()
  process.on('message', (msg) => {
    if (msg === 'stats') process.send?.(tracker.report())
  })
}
