/**
 * Small UDP socket helpers shared by the STUN client and server: open a bound socket with its
 * error listener attached in the same tick, and close it idempotently. (IP helpers are in
 * nat/addr.ts.)
 */
import { createSocket, type Socket } from 'node:dgram'
import { abortError } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'

/** Options for {@link openUdpSocket}. */
export interface OpenUdpSocketOptions {
  /** Address family of the socket. */
  family: 4 | 6
  /** Local IP literal. @default the wildcard address of the family */
  address?: string
  /** Local port. @default 0 (any free port) */
  port?: number
  /** Cancels the bind; the socket is closed. */
  signal?: AbortSignal
  /** Listener for socket errors after the bind (attached before the bind, in the same tick). */
  onError: (err: Error) => void
}

/** Opens a UDP socket bound to `address:port`. IPv6 sockets are IPv6-only (no v4-mapped traffic). */
export async function openUdpSocket (options: OpenUdpSocketOptions): Promise<Socket> {
  const socket = createSocket({ type: options.family === 6 ? 'udp6' : 'udp4', ipv6Only: options.family === 6 })
  const signal = options.signal
  return await new Promise<Socket>((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('error', onBindError)
      socket.off('listening', onListening)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err: unknown): void => {
      cleanup()
      socket.on('error', options.onError)
      void closeUdpSocket(socket)
      reject(err instanceof ToolkitError ? err : new ToolkitError(ErrorCode.InvalidAddress, `cannot bind UDP socket to ${options.address ?? 'any'}:${options.port ?? 0}: ${(err as Error).message}`, { cause: err }))
    }
    const onBindError = (err: Error): void => { fail(err) }
    const onAbort = (): void => { fail(abortError(signal, 'UDP bind')) }
    const onListening = (): void => {
      cleanup()
      socket.on('error', options.onError)
      resolve(socket)
    }
    socket.on('error', onBindError)
    socket.once('listening', onListening)
    if (signal?.aborted === true) {
      onAbort()
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      socket.bind({ port: options.port ?? 0, address: options.address ?? (options.family === 6 ? '::' : '0.0.0.0'), exclusive: true })
    } catch (err) {
      fail(err)
    }
  })
}

/** Closes a UDP socket and waits for its 'close' event; a no-op when it is already closed. */
export async function closeUdpSocket (socket: Socket): Promise<void> {
  await new Promise<void>(resolve => {
    try {
      socket.close(() => { resolve() })
    } catch {
      resolve() // already closed (ERR_SOCKET_DGRAM_NOT_RUNNING)
    }
  })
}
