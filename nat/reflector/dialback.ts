/**
 * The dial-back itself: a TCP connect to the requester's observed address, the greeting line
 * `IICP-DIALBACK <nonce>\n`, and the outcome. The socket then lingers up to a second so the
 * peer can read the line; the caller owns that linger timer.
 */
import { connect, type Socket } from 'node:net'
import { tryParseIp } from '../net/addr.ts'

/** Path of the dial-back route. */
export const DIALBACK_PATH = '/v1/nat/dialback'
/** Line prefix the reflector writes to the dialed listener. */
export const DIALBACK_GREETING = 'IICP-DIALBACK'
/** How long a dialed socket stays open after the greeting, so the peer can read it. */
const LINGER_MS = 1000

/** The outcome of one dial-back. */
export interface DialResult { ok: boolean, latencyMs: number | null, from: string | null, error?: string }

/** Dial-back sockets lingering after their greeting, each with its timer; {@link Lingering.closeAll} ends them. */
export interface Lingering {
  /** Destroys `socket` after {@link LINGER_MS} (or when it closes first, clears the timer). */
  add: (socket: Socket) => void
  /** Clears every linger timer and destroys its socket (shutdown). */
  closeAll: () => void
}

/** Creates the owner of lingering dial-back sockets. */
export function createLingering (): Lingering {
  const timers = new Map<Socket, NodeJS.Timeout>()
  const drop = (socket: Socket): void => {
    clearTimeout(timers.get(socket))
    timers.delete(socket)
  }
  return {
    add: socket => {
      if (socket.destroyed) return
      timers.set(socket, setTimeout(() => {
        drop(socket)
        socket.destroy()
      }, LINGER_MS))
      socket.once('close', () => { drop(socket) })
    },
    closeAll: () => {
      for (const socket of [...timers.keys()]) {
        drop(socket)
        socket.destroy()
      }
    }
  }
}

/** Dials host:port, writes the greeting, and reports the outcome. Never rejects. */
export async function dialBack (host: string, port: number, nonce: string, timeoutMs: number, localAddress: string | undefined, signal: AbortSignal, lingering: Lingering): Promise<DialResult> {
  if (signal.aborted) return { ok: false, latencyMs: null, from: null, error: 'aborted' }
  const started = performance.now()
  return await new Promise(resolve => {
    const socket: Socket = connect({ host, port, noDelay: true, ...(localAddress === undefined ? {} : { localAddress }) })
    const finish = (r: DialResult): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(r)
    }
    const timer = setTimeout(() => {
      socket.destroy()
      finish({ ok: false, latencyMs: null, from: null, error: 'timeout' })
    }, timeoutMs)
    const onAbort = (): void => {
      socket.destroy()
      finish({ ok: false, latencyMs: null, from: null, error: 'aborted' })
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', (err: NodeJS.ErrnoException) => { finish({ ok: false, latencyMs: null, from: null, error: err.code ?? err.message }) })
    socket.on('connect', () => {
      const latencyMs = Math.round((performance.now() - started) * 10) / 10
      const from = tryParseIp(socket.localAddress)?.address ?? null
      socket.end(`${DIALBACK_GREETING} ${nonce}\n`, () => {
        finish({ ok: true, latencyMs, from })
        lingering.add(socket)
      })
    })
  })
}
