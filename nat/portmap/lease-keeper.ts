/**
 * Keeps a router lease (port mapping or IPv6 pinhole) alive: renews it at a fraction of the
 * granted lease, retries sooner after a failed renewal, and removes it on close (unless told
 * to keep it). One owned, unref'd timer; close() is idempotent and waits for an in-flight
 * renewal to stop before removing.
 *
 * Upstream SDKs never renewed or deleted their UPnP mappings (spec §6.1 #6); this is the fix.
 */
import { deadline } from '../../src/abort.ts'
import { ErrorCode, ToolkitError, errorMessage, isToolkitError } from '../../src/errors.ts'
import { silentLogger, type Logger } from '../../src/log.ts'

/** Default fraction of the lease after which it is renewed. */
const DEFAULT_RENEW_FRACTION = 0.5
/** Default floor between two renewal attempts. */
const DEFAULT_MIN_RENEW_INTERVAL_MS = 1000
/** Default deadline of one renew or remove call. */
const DEFAULT_LEASE_CALL_TIMEOUT_MS = 3000

/** How a lease is renewed: the tuning shared by the keeper, `mapPort()` and `openPinhole()`. */
export interface LeaseRenewalOptions {
  /** Renew after this fraction of the lease. @default 0.5 */
  renewFraction?: number
  /** Never renew more often than this. @default 1000 */
  minRenewIntervalMs?: number
  /** Deadline of each renew or remove call. @default 3000 */
  callTimeoutMs?: number
  /** Called after every renewal attempt (for logs, health state and tests). */
  onRenew?: (result: { ok: boolean, leaseSeconds: number, error?: unknown }) => void
  /** Logger. @default silentLogger() */
  logger?: Logger
}

/** Options for {@link createLeaseKeeper}. */
export interface LeaseKeeperOptions extends LeaseRenewalOptions {
  /** Granted lease in seconds; 0 means permanent (never renewed). */
  leaseSeconds: number
  /** Renews the lease; resolves with the newly granted lease in seconds. */
  renew: (signal: AbortSignal) => Promise<number>
  /** Removes the lease from the router. */
  remove: (signal: AbortSignal) => Promise<void>
  /** What the lease is, for log lines, e.g. `tcp 9484 -> 11.0.0.10:9484`. */
  label?: string
}

/** A running lease. */
export interface LeaseKeeper {
  /** Current granted lease in seconds (0 = permanent). */
  readonly leaseSeconds: number
  /** Successful renewals so far. */
  readonly renewals: number
  /** When the current lease runs out (ms since epoch); undefined for a permanent lease. */
  readonly expiresAt: number | undefined
  /** True after close(). */
  readonly closed: boolean
  /** Renews now (resets the schedule). Rejects when the router refuses. */
  renewNow: (signal?: AbortSignal) => Promise<void>
  /** Stops renewing and removes the lease unless `keep`. Idempotent. Never rejects; returns the removal error, if any. */
  close: (options?: { keep?: boolean, signal?: AbortSignal }) => Promise<ToolkitError | undefined>
}

/** Starts renewing a freshly granted lease. */
export function createLeaseKeeper (options: LeaseKeeperOptions): LeaseKeeper {
  const log = options.logger ?? silentLogger()
  const fraction = options.renewFraction ?? DEFAULT_RENEW_FRACTION
  const minInterval = options.minRenewIntervalMs ?? DEFAULT_MIN_RENEW_INTERVAL_MS
  const callTimeout = options.callTimeoutMs ?? DEFAULT_LEASE_CALL_TIMEOUT_MS
  const label = options.label ?? 'lease'
  let lease = options.leaseSeconds
  let expiresAt = lease > 0 ? Date.now() + lease * 1000 : undefined
  let renewals = 0
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let inflight: { ctrl: AbortController, done: Promise<void> } | undefined
  let closing: Promise<ToolkitError | undefined> | undefined

  const schedule = (ms: number): void => {
    clearTimeout(timer)
    if (closed || lease === 0) return
    timer = setTimeout(() => { void attempt() }, Math.max(ms, minInterval))
    timer.unref()
  }

  const runRenew = async (parent?: AbortSignal): Promise<void> => {
    const ctrl = new AbortController()
    const dl = deadline(callTimeout, parent === undefined ? ctrl.signal : AbortSignal.any([parent, ctrl.signal]))
    const done = (async () => {
      try {
        const granted = await options.renew(dl.signal)
        lease = granted
        expiresAt = granted > 0 ? Date.now() + granted * 1000 : undefined
        renewals++
        log.debug({ lease: granted, renewals }, `${label}: renewed`)
        options.onRenew?.({ ok: true, leaseSeconds: granted })
      } finally {
        dl.clear()
      }
    })()
    inflight = { ctrl, done: done.then(() => undefined, () => undefined) }
    try {
      await done
    } finally {
      inflight = undefined
    }
  }

  async function attempt (): Promise<void> {
    if (closed) return
    try {
      await runRenew()
      schedule(lease * 1000 * fraction)
    } catch (err) {
      if (closed) return
      const remaining = expiresAt === undefined ? 0 : expiresAt - Date.now()
      log.warn({ err: errorMessage(err), remainingMs: remaining }, `${label}: renewal failed`)
      options.onRenew?.({ ok: false, leaseSeconds: lease, error: err })
      schedule(remaining > 0 ? remaining / 2 : lease * 1000 * fraction)
    }
  }

  schedule(lease * 1000 * fraction)

  return {
    get leaseSeconds () { return lease },
    get renewals () { return renewals },
    get expiresAt () { return expiresAt },
    get closed () { return closed },
    async renewNow (signal) {
      if (closed) return
      clearTimeout(timer)
      try {
        await runRenew(signal)
      } finally {
        schedule(lease * 1000 * fraction)
      }
    },
    close (o = {}) {
      closing ??= (async () => {
        closed = true
        clearTimeout(timer)
        if (inflight !== undefined) {
          inflight.ctrl.abort()
          await inflight.done
        }
        if (o.keep === true) return undefined
        const dl = deadline(callTimeout, o.signal)
        try {
          await options.remove(dl.signal)
          log.debug(`${label}: removed`)
          return undefined
        } catch (err) {
          log.warn({ err: errorMessage(err) }, `${label}: removal failed`)
          return isToolkitError(err) ? err : new ToolkitError(ErrorCode.PortMapFailed, `${label}: removal failed: ${errorMessage(err)}`, { cause: err })
        } finally {
          dl.clear()
        }
      })()
      return closing
    }
  }
}
