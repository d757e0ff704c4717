/**
 * One listener per address family on the node's port, shared by every dial-back check of that
 * family: each check registers the greeting line it expects and learns who delivered it. Several
 * reflectors can so be asked at once on the same port. When the port is taken by another program
 * (the node already serving it), no listener opens and the checks learn why.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { errorMessage } from '../../src/errors.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { readGreeting } from '../reflector/greeting.ts'

/** Connections held at once. */
const MAX_CONNECTIONS = 32

/** A shared greeting listener. */
export interface GreetingListener {
  /** The port listened on (or that another program holds). */
  port: number
  /** Why no listener could open (e.g. the port is in use by another program); undefined when listening. */
  unavailable: string | undefined
  /** The port is held by another program (EADDRINUSE). */
  inUse: boolean
  /** Resolves with the peer address once `line` arrived; rejects when `signal` aborts. */
  awaitGreeting: (line: string, signal: AbortSignal) => Promise<string>
  /** Closes the listener and its connections. */
  close: () => Promise<void>
}

/** Opens the family's listener on `port` (IPv4 `0.0.0.0`, IPv6 `::` IPv6-only). Never rejects. */
export async function openGreetingListener (port: number, family: 4 | 6): Promise<GreetingListener> {
  const waiters = new Map<string, (from: string) => void>()
  const sockets = new Set<Socket>()
  const server: Server = createServer(socket => {
    readGreeting(socket, sockets, (line, from) => { waiters.get(line)?.(from) })
  })
  server.maxConnections = MAX_CONNECTIONS
  server.on('error', () => undefined)
  let unavailable: string | undefined
  let inUse = false
  try {
    await listenTcp(server, { port, host: family === 6 ? '::' : '0.0.0.0', ipv6Only: family === 6 })
  } catch (err) {
    inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
    unavailable = inUse ? `port ${port} is in use by another program, so the nonce cannot be checked` : `cannot listen on port ${port}: ${errorMessage(err)}`
  }
  return {
    port,
    unavailable,
    inUse,
    awaitGreeting: async (line, signal) => await new Promise<string>((resolve, reject) => {
      const done = (): void => { waiters.delete(line); signal.removeEventListener('abort', onAbort) }
      const aborted = (): Error => signal.reason instanceof Error ? signal.reason : new Error('greeting wait abandoned')
      const onAbort = (): void => { done(); reject(aborted()) }
      if (signal.aborted) { reject(aborted()); return }
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.set(line, from => { done(); resolve(from) })
    }),
    close: async () => {
      for (const s of sockets) s.destroy()
      if (server.listening) await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
