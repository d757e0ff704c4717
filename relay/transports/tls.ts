/**
 * TLS for the relay: the certificate and key files (PEM, the certificate file may hold the
 * chain), the servers that use them, and their reload (SIGHUP) without dropping connections:
 * `setSecureContext` changes what new handshakes get, established sessions keep theirs. Also
 * the TLS listener on the relay-accept port, advertised as `iicpsec://` (spec §1.4).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { unwrapIPv4Mapped } from '../../src/host-port.ts'
import type { Logger } from '../../src/log.ts'
import { listenTcp } from '../../src/transport/listen.ts'

/** Where the relay's certificate and key live. */
export interface TlsFiles {
  /** PEM certificate file; the leaf first, then any intermediates. */
  certFile: string
  /** PEM private key file (unencrypted). */
  keyFile: string
}

/** The oldest TLS version the relay accepts. */
const MIN_TLS_VERSION = 'TLSv1.2'

/** Reads and checks the PEM files. Throws ERR_INVALID_CONFIG with the file and the reason. */
export function readTlsFiles (files: TlsFiles): { cert: Buffer, key: Buffer, notAfter: string } {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file)
    } catch (err) {
      throw new ToolkitError(ErrorCode.InvalidConfig, `cannot read TLS ${what} ${file}: ${errorMessage(err)}`, { cause: err })
    }
  }
  const cert = read('certificate', files.certFile)
  const key = read('key', files.keyFile)
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch (err) {
    throw new ToolkitError(ErrorCode.InvalidConfig, `TLS certificate ${files.certFile} is not a PEM certificate: ${errorMessage(err)}`, { cause: err })
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not match the certificate')
  } catch (err) {
    throw new ToolkitError(ErrorCode.InvalidConfig, `TLS key ${files.keyFile} does not fit ${files.certFile}: ${errorMessage(err)}`, { cause: err })
  }
  return { cert, key, notAfter: leaf.validTo }
}

/** A certificate shared by the relay's TLS servers, reloadable in place. */
export class TlsCertificates {
  readonly #files: TlsFiles
  readonly #servers = new Set<TlsServer>()
  #current: { cert: Buffer, key: Buffer, notAfter: string }

  /** Reads the files now; throws ERR_INVALID_CONFIG. */
  constructor (files: TlsFiles) {
    this.#files = files
    this.#current = readTlsFiles(files)
  }

  /** The options a TLS server is created with. */
  get serverOptions (): SecureContextOptions & { minVersion: 'TLSv1.2' } {
    return { cert: this.#current.cert, key: this.#current.key, minVersion: MIN_TLS_VERSION }
  }

  /** The current certificate's expiry (X.509 `validTo`). */
  get notAfter (): string {
    return this.#current.notAfter
  }

  /** Makes `server` follow reloads. */
  track (server: TlsServer): void {
    this.#servers.add(server)
  }

  /**
   * Re-reads the files and gives every tracked server the new certificate for new handshakes.
   * On a bad file nothing changes and it throws ERR_INVALID_CONFIG.
   */
  reload (): { notAfter: string } {
    const next = readTlsFiles(this.#files)
    this.#current = next
    for (const s of this.#servers) s.setSecureContext(this.serverOptions)
    return { notAfter: next.notAfter }
  }
}

/** What the TLS relay-accept listener needs. */
export interface TlsAcceptContext {
  certificates: TlsCertificates
  /** A handshake that takes longer is dropped. */
  handshakeTimeoutMs: number
  /** Feeds a TLS connection into the relay-accept server once its handshake is done. */
  accept: (socket: TLSSocket, transport: 'tls') => void
  logger: Logger
}

/** The `iicpsec://` relay-accept listener. */
export class TlsAcceptListener {
  readonly #server: TlsServer

  constructor (ctx: TlsAcceptContext) {
    this.#server = createTlsServer({ ...ctx.certificates.serverOptions, handshakeTimeout: ctx.handshakeTimeoutMs }, socket => {
      ctx.accept(socket, 'tls')
    })
    this.#server.on('tlsClientError', (err, socket) => {
      ctx.logger.debug({ err: errorMessage(err), ip: unwrapIPv4Mapped(socket.remoteAddress ?? '') }, 'TLS handshake failed')
    })
    this.#server.on('error', (err) => { ctx.logger.error({ err }, 'TLS relay-accept listener error') })
    ctx.certificates.track(this.#server)
  }

  /** Starts listening; resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    return (await listenTcp(this.#server, { host, port })).port
  }

  /** Stops accepting; open connections belong to the relay-accept server. */
  async close (): Promise<void> {
    await new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
  }
}
