/**
 * Keepalive of a bound session: a PING every interval (the first one interval after binding,
 * as upstream), and a liveness deadline that declares the relay dead when no frame at all has
 * arrived for the idle timeout (upstream has none: spec §6.2 item 2).
 */

/** Options for {@link startKeepalive}. */
export interface KeepaliveOptions {
  /** PING interval. */
  pingIntervalMs: number
  /** Silence after which the relay counts as dead. */
  idleTimeoutMs: number
  /** Sends one PING. */
  sendPing: () => void
  /** `performance.now()` of the last byte received from the relay. */
  lastReceivedAt: () => number
  /** Called once when the relay has been silent for `idleTimeoutMs`. */
  onIdle: () => void
}

/** A running keepalive; `stop()` clears both timers and is idempotent. */
export interface Keepalive {
  stop: () => void
}

/** Starts the PING interval and the idle deadline. Both timers are unref'd: the socket keeps the process alive. */
export function startKeepalive (options: KeepaliveOptions): Keepalive {
  const ping = setInterval(options.sendPing, options.pingIntervalMs)
  ping.unref()
  let idle: NodeJS.Timeout | undefined
  const arm = (): void => {
    const silentFor = performance.now() - options.lastReceivedAt()
    if (silentFor >= options.idleTimeoutMs) {
      idle = undefined
      options.onIdle()
      return
    }
    // Re-check when the deadline would pass if nothing else arrives; no per-frame timer churn.
    idle = setTimeout(arm, Math.max(1, Math.ceil(options.idleTimeoutMs - silentFor)))
    idle.unref()
  }
  arm()
  return {
    stop: () => {
      clearInterval(ping)
      if (idle !== undefined) clearTimeout(idle)
      idle = undefined
    }
  }
}
