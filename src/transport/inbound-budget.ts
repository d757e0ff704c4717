/**
 * One budget for the bytes a server holds in partial inbound frames across all its connections.
 * A frame may announce up to 16 MiB and arrive slowly, so per-frame limits alone let N
 * connections hold N × 16 MiB. The budget stops reading from the biggest holders when it is
 * three-quarters full, drops the worst holders (most bytes for the longest) when it is exceeded
 * or while paused holders wait, and closes connections whose frame arrives slower than a
 * minimum rate.
 */
import { ErrorCode, ToolkitError } from '../errors.ts'

/** A connection as the budget sees it (a FrameConnection). */
export interface BudgetHolder {
  /** Stops reading from the socket. */
  pauseReading: () => void
  /** Reads from the socket again. */
  resumeReading: () => void
  /** Closes the connection with `err`. */
  destroy: (err: ToolkitError) => void
}

/** Options for {@link InboundBudget}. */
export interface InboundBudgetOptions {
  /** Bytes all partial frames together may hold. */
  limitBytes: number
  /** A frame must arrive at least this fast on average (after `frameGraceMs`), else its connection is closed. */
  minFrameBytesPerSecond: number
  /** Time every frame gets on top of its length / `minFrameBytesPerSecond`. */
  frameGraceMs: number
}

interface Holding {
  bytes: number
  /** performance.now() when the current frame started. */
  since: number
  /** The current frame's announced payload length. */
  frameLength: number
  paused: boolean
}

/** The relay-wide inbound budget. Not thread-shared; all calls come from the event loop. */
export class InboundBudget {
  readonly #options: InboundBudgetOptions
  readonly #held = new Map<BudgetHolder, Holding>()
  #total = 0
  #pausedCount = 0

  constructor (options: InboundBudgetOptions) {
    this.#options = options
  }

  /** Bytes held in partial frames right now. */
  get heldBytes (): number {
    return this.#total
  }

  /** The budget in bytes. */
  get limitBytes (): number {
    return this.#options.limitBytes
  }

  /**
   * Records that `holder` now holds `bytes` of a partial frame of `frameLength` payload bytes
   * (0 and 0 once it holds none). May pause it, or destroy it or other holders.
   */
  update (holder: BudgetHolder, bytes: number, frameLength: number, now: number = performance.now()): void {
    let h = this.#held.get(holder)
    if (bytes === 0) {
      if (h !== undefined) this.release(holder)
      return
    }
    if (h === undefined) {
      h = { bytes: 0, since: now, frameLength, paused: false }
      this.#held.set(holder, h)
    } else if (h.frameLength !== frameLength) {
      h.since = now
      h.frameLength = frameLength
    }
    this.#total += bytes - h.bytes
    h.bytes = bytes
    const { limitBytes } = this.#options
    if (this.#total > limitBytes) this.#dropWorst(limitBytes * 0.75, now)
    else if (this.#total >= limitBytes * 0.75 && !h.paused && h.bytes >= this.#fairShare()) this.#pause(holder, h)
  }

  /** Forgets `holder` (its frame completed, or it closed). */
  release (holder: BudgetHolder): void {
    const h = this.#held.get(holder)
    if (h === undefined) return
    this.#held.delete(holder)
    this.#total -= h.bytes
    if (h.paused) this.#pausedCount--
    if (this.#pausedCount > 0 && this.#total < this.#options.limitBytes / 2) this.#resumeAll()
  }

  /**
   * Closes holders whose frame is late (not complete by grace + length / minimum rate), and
   * while some holders are paused with the budget still half full, drops the worst offenders
   * so the paused ones can resume.
   */
  sweep (now: number = performance.now()): void {
    const { minFrameBytesPerSecond, frameGraceMs, limitBytes } = this.#options
    for (const [holder, h] of this.#held) {
      const allowedMs = frameGraceMs + (h.frameLength / minFrameBytesPerSecond) * 1000
      if (now - h.since > allowedMs) {
        holder.destroy(new ToolkitError(ErrorCode.Protocol, `frame of ${h.frameLength} bytes not complete within ${Math.round(allowedMs)} ms`, { details: { reason: 'frame_too_slow' } }))
        this.release(holder)
      }
    }
    if (this.#pausedCount > 0 && this.#total >= limitBytes / 2) this.#dropWorst(limitBytes / 2, now)
  }

  /** What each holder could hold if the budget were split evenly. */
  #fairShare (): number {
    return this.#options.limitBytes / Math.max(1, this.#held.size)
  }

  #pause (holder: BudgetHolder, h: Holding): void {
    h.paused = true
    this.#pausedCount++
    holder.pauseReading()
  }

  #resumeAll (): void {
    for (const [holder, h] of this.#held) {
      if (!h.paused) continue
      h.paused = false
      holder.resumeReading()
    }
    this.#pausedCount = 0
  }

  /**
   * Destroys the worst offenders until the held bytes are below `target`: the holders with the
   * most bytes held for the longest (bytes × age), so a fast frame outranks a stalled one.
   */
  #dropWorst (target: number, now: number): void {
    const score = (h: Holding): number => h.bytes * (now - h.since + 1)
    const worstFirst = [...this.#held].sort((a, b) => score(b[1]) - score(a[1]))
    for (const [holder, h] of worstFirst) {
      if (this.#total < target) break
      holder.destroy(new ToolkitError(ErrorCode.Protocol, `inbound budget of ${this.#options.limitBytes} bytes exhausted; dropping a connection holding ${h.bytes} bytes of a partial frame`, { details: { reason: 'inbound_budget' } }))
      this.release(holder)
    }
  }
}
