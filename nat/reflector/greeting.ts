/**
 * The receiving end of a dial-back: reads the greeting line a reflector sends on the connection it
 * dialed, then closes it. Shared by the reflector client's own listener and the probe's shared
 * per-family listener.
 */
import type { Socket } from 'node:net'

/** Longest greeting line read from a dialed-back connection. */
export const MAX_GREETING_BYTES = 256
/** A dialed-back connection that sends nothing is dropped after this long. */
export const GREETING_IDLE_MS = 2000

/**
 * Serves one dialed-back connection: tracks it in `sockets` while open, reads its first line
 * (at most {@link MAX_GREETING_BYTES}, idle for at most {@link GREETING_IDLE_MS}), hands the
 * trimmed line and the peer address to `onLine`, and closes it.
 */
export function readGreeting (socket: Socket, sockets: Set<Socket>, onLine: (line: string, from: string) => void): void {
  sockets.add(socket)
  socket.setTimeout(GREETING_IDLE_MS, () => socket.destroy())
  socket.on('error', () => socket.destroy())
  socket.on('close', () => sockets.delete(socket))
  socket.setEncoding('latin1')
  let buf = ''
  socket.on('data', (chunk: string) => {
    buf += chunk
    const nl = buf.indexOf('\n')
    if (nl === -1 && buf.length < MAX_GREETING_BYTES) return
    onLine(buf.slice(0, nl === -1 ? undefined : nl).trim(), socket.remoteAddress ?? '')
    socket.destroy()
  })
}
