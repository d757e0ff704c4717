/**
 * Connection agents for the worker's HTTP-based transports (WebSocket upgrade, long-poll):
 * certificates always verified (`ca` adds a private CA), and tunnels through an HTTP CONNECT
 * proxy when one applies.
 */
import { Agent as HttpAgent, type AgentOptions } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext } from 'node:tls'
import { isIP } from 'node:net'
import { connectThroughProxy } from './proxy.ts'

type CreateCallback = (err: Error | null, stream?: Duplex) => void
type ConnectionOptions = { host?: string | null, hostname?: string | null, port?: number | string | null, servername?: string }

/** What an agent needs to know. */
export interface TransportAgentOptions {
  /** https/wss (TLS) or http/ws. */
  secure: boolean
  /** Extra trusted CA certificates (PEM), on top of the system store. */
  ca?: string | undefined
  /** Tunnel through this HTTP CONNECT proxy. */
  proxy?: URL | undefined
  /** Deadline of the CONNECT tunnel. */
  connectTimeoutMs: number
  /** Sockets kept per host. */
  maxSockets: number
}

function target (options: ConnectionOptions): { host: string, port: number } {
  const host = options.hostname ?? options.host ?? 'localhost'
  return { host: host.replace(/^\[|\]$/g, ''), port: Number(options.port) }
}

/** Node's bundled roots plus `ca`: a private CA is added to the trusted set, never replaces it. */
function trustedWith (ca: string): string[] {
  return [...rootCertificates, ca]
}

const contexts = new Map<string, SecureContext>()

/**
 * One client TLS context per private CA (roots plus `ca`), built once: parsing the ~150 root
 * certificates for every connection would cost milliseconds per handshake.
 */
export function trustContext (ca: string): SecureContext {
  let ctx = contexts.get(ca)
  if (ctx === undefined) {
    ctx = createSecureContext({ ca: trustedWith(ca) })
    contexts.set(ca, ctx)
  }
  return ctx
}

/** A keep-alive agent for the options (an `https.Agent` when secure). */
export function createTransportAgent (o: TransportAgentOptions): HttpAgent {
  const base: AgentOptions = { keepAlive: true, maxSockets: o.maxSockets }
  const proxy = o.proxy
  if (!o.secure) {
    const agent = new HttpAgent(base)
    if (proxy !== undefined) {
      agent.createConnection = (options: ConnectionOptions, callback: CreateCallback) => {
        const t = target(options)
        connectThroughProxy(proxy, t.host, t.port, { timeoutMs: o.connectTimeoutMs }).then(socket => { callback(null, socket) }, (err: Error) => { callback(err) })
        return undefined
      }
    }
    return agent
  }
  const ca = o.ca === undefined ? {} : { secureContext: trustContext(o.ca) }
  const agent = new HttpsAgent({ ...base, ...ca })
  if (proxy !== undefined) {
    agent.createConnection = (options: ConnectionOptions, callback: CreateCallback) => {
      const t = target(options)
      connectThroughProxy(proxy, t.host, t.port, { timeoutMs: o.connectTimeoutMs }).then(socket => {
        const tls = tlsConnect({ socket, host: t.host, ...ca, ...(isIP(t.host) === 0 ? { servername: t.host } : {}) })
        const onError = (err: Error): void => { callback(err) }
        tls.once('error', onError)
        tls.once('secureConnect', () => {
          tls.off('error', onError)
          callback(null, tls)
        })
      }, (err: Error) => { callback(err) })
      return undefined
    }
  }
  return agent
}
