/**
 * A standalone dial-back reflector: an HTTP server that serves only the dial-back route
 * (nat/reflector/route.ts) and the NAT discovery document (nat/reflector/info.ts), for tests,
 * the lab and hosts without a relay.
 */
import { createServer, type Server } from 'node:http'
import { errorMessage } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { createRouteReply } from '../../src/http/route.ts'
import { silentLogger } from '../../src/log.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { DIALBACK_PATH } from './dialback.ts'
import { NAT_INFO_PATH, createNatInfoRoute } from './info.ts'
import { createDialbackRoute, type ReflectorOptions } from './route.ts'

/** Options for {@link createReflectorServer}. */
export interface ReflectorServerOptions extends ReflectorOptions {
  /** Listen address. @default '127.0.0.1' */
  host?: string
  /** Listen port (0 = ephemeral). @default 0 */
  port?: number
  /** STUN addresses to advertise in `GET /v1/nat/info` (primary first). @default none */
  stun?: Array<{ address: string, port: number }>
}

/** A standalone reflector HTTP server. */
export interface ReflectorServer {
  /** Starts listening; resolves with the bound address and the base URL. */
  listen: () => Promise<{ address: string, port: number, url: string }>
  /** Stops accepting, aborts dial-backs, drops connections. Idempotent. */
  close: () => Promise<void>
  /** Same as close(). */
  [Symbol.asyncDispose]: () => Promise<void>
}

const NO_STORE = { 'cache-control': 'no-store' }

/**
 * Creates a standalone reflector serving only `POST /v1/nat/dialback` (for tests and the lab).
 *
 * @example
 * ```ts
 * const reflector = createReflectorServer({ host: '127.0.0.1', port: 0 })
 * const { url } = await reflector.listen()
 * ```
 */
export function createReflectorServer (options: ReflectorServerOptions = {}): ReflectorServer {
  const route = createDialbackRoute(options)
  const info = createNatInfoRoute({ stun: () => options.stun ?? [], reflector: true })
  const log = options.logger ?? silentLogger()
  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 1_000 }, (req, res) => {
    const reply = createRouteReply(res, NO_STORE)
    const path = (req.url ?? '').split('?')[0]
    if (path === NAT_INFO_PATH && req.method === 'GET') {
      void info.handler(req, reply, { signal: AbortSignal.timeout(1000) })
      return
    }
    if (path !== DIALBACK_PATH) {
      reply.error(404, 'not_found', `only ${DIALBACK_PATH} and GET ${NAT_INFO_PATH}`)
      return
    }
    const ctrl = new AbortController()
    res.on('close', () => { ctrl.abort() })
    route.handler(req, reply, { signal: ctrl.signal }).catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'dial-back handler failed')
      reply.error(500, 'internal', 'internal error')
    })
  })
  server.maxConnections = 1024
  server.on('error', err => { log.error({ err: err.message }, 'reflector server error') })
  server.on('clientError', (_err, socket) => { socket.destroy() })
  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= new Promise<void>(resolve => {
      route.close()
      if (!server.listening) {
        resolve()
        return
      }
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
    await closing
  }
  return {
    listen: async () => {
      const addr = await listenTcp(server, { port: options.port ?? 0, host: options.host ?? '127.0.0.1' })
      return { address: addr.address, port: addr.port, url: `http://${formatHostPort(addr.address, addr.port)}` }
    },
    close,
    [Symbol.asyncDispose]: close
  }
}
