/**
 * Dials the relay's TLS relay-accept port (`iicpsec://host:port`, spec §1.4). The certificate
 * is always verified against the system roots plus `--ca`; refusals are ERR_TLS_CERTIFICATE.
 */
import { isIP } from 'node:net'
import { connect, type TLSSocket } from 'node:tls'
import { deadline, throwIfAborted } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { trustContext } from './agent.ts'
import { awaitOpen } from './await-open.ts'
import { certificateError } from './tls-errors.ts'

/** Options of {@link dialTls}. */
export interface DialTlsOptions {
  /** Extra trusted CA (PEM). */
  ca?: string | undefined
  /** Deadline for TCP connect plus TLS handshake. */
  timeoutMs: number
  signal?: AbortSignal | undefined
}

/**
 * Connects and completes the TLS handshake. Rejects with ERR_TLS_CERTIFICATE,
 * ERR_CONNECT_TIMEOUT, ERR_CONNECTION_CLOSED or ERR_ABORTED; the socket is destroyed on failure.
 */
export async function dialTls (host: string, port: number, o: DialTlsOptions): Promise<TLSSocket> {
  throwIfAborted(o.signal, 'dial')
  const where = formatHostPort(host, port)
  const limit = deadline(o.timeoutMs, o.signal, ErrorCode.ConnectTimeout, `TLS connect to ${where} timed out after ${o.timeoutMs} ms`)
  const socket = connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...(o.ca === undefined ? {} : { secureContext: trustContext(o.ca) }), minVersion: 'TLSv1.2' })
  try {
    await awaitOpen(socket, 'secureConnect', limit.signal, `TLS connect to ${where}`, err =>
      certificateError(err, where) ?? new ToolkitError(ErrorCode.ConnectionClosed, `TLS connect to ${where} failed (${(err as NodeJS.ErrnoException).code ?? err.message})`, { cause: err }))
    socket.setNoDelay(true)
    return socket
  } catch (err) {
    socket.destroy()
    throw err
  } finally {
    limit.clear()
  }
}
