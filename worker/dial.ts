/**
 * Opens the worker's TCP connection to the relay-accept port, with a connect deadline
 * (upstream #359: 10 s) and cancellation.
 */
import { connect, type Socket } from 'node:net'
import { deadline, throwIfAborted } from '../src/abort.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'
import { awaitOpen } from './transports/await-open.ts'

/** Options for {@link dialRelay}. */
export interface DialOptions {
  /** Connect deadline (DNS lookup included); fails with ERR_CONNECT_TIMEOUT. */
  timeoutMs: number
  /** Cancels the dial with ERR_ABORTED. */
  signal?: AbortSignal | undefined
}

/**
 * Connects to `host:port`. Resolves with the connected socket, which the caller owns.
 * Rejects with ERR_CONNECT_TIMEOUT, ERR_CONNECTION_REFUSED, ERR_CONNECTION_CLOSED (reset,
 * unreachable) or ERR_ABORTED; the socket is destroyed in every failure case.
 */
export async function dialRelay (host: string, port: number, options: DialOptions): Promise<Socket> {
  throwIfAborted(options.signal, 'dial')
  const where = `${host}:${port}`
  const limit = deadline(options.timeoutMs, options.signal, ErrorCode.ConnectTimeout, `connect to ${where} timed out after ${options.timeoutMs} ms`)
  const socket = connect({ host, port })
  try {
    await awaitOpen(socket, 'connect', limit.signal, `connect to ${where}`, err => {
      const reason = (err as NodeJS.ErrnoException).code ?? err.message
      return reason === 'ECONNREFUSED'
        ? new ToolkitError(ErrorCode.ConnectionRefused, `connect to ${where} refused: nothing listens there (is the relay running, and is this its relay-accept port, usually 9485?)`, { cause: err, details: { host, port } })
        : new ToolkitError(ErrorCode.ConnectionClosed, `connect to ${where} failed (${reason})`, { cause: err, details: { host, port } })
    })
    return socket
  } catch (err) {
    socket.destroy()
    throw err
  } finally {
    limit.clear()
  }
}
