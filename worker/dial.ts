/**
 * Opens the worker's TCP connection to the relay-accept port, with a connect deadline
 * (upstream #359: 10 s) and cancellation.
 */
import { connect, type Socket } from 'node:net'
import { abortError, deadline, throwIfAborted } from '../src/abort.ts'
import { ErrorCode, ToolkitError } from '../src/errors.ts'

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
  let onConnect: (() => void) | undefined
  let onError: ((err: Error) => void) | undefined
  let onAbort: (() => void) | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      onConnect = resolve
      onError = (err: Error) => {
        const reason = (err as NodeJS.ErrnoException).code ?? err.message
        reject(reason === 'ECONNREFUSED'
          ? new ToolkitError(ErrorCode.ConnectionRefused, `connect to ${where} refused: nothing listens there (is the relay running, and is this its relay-accept port, usually 9485?)`, { cause: err, details: { host, port } })
          : new ToolkitError(ErrorCode.ConnectionClosed, `connect to ${where} failed (${reason})`, { cause: err, details: { host, port } }))
      }
      onAbort = () => { reject(abortError(limit.signal, `connect to ${where}`)) }
      socket.once('connect', onConnect)
      socket.once('error', onError)
      limit.signal.addEventListener('abort', onAbort, { once: true })
    })
    return socket
  } catch (err) {
    socket.destroy()
    throw err
  } finally {
    limit.clear()
    if (onConnect !== undefined) socket.off('connect', onConnect)
    if (onError !== undefined) socket.off('error', onError)
    if (onAbort !== undefined) limit.signal.removeEventListener('abort', onAbort)
  }
}
