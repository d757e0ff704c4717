/**
 * A tiny HTTP CONNECT proxy on 127.0.0.1 for tests: it tunnels to loopback targets only,
 * records every CONNECT authority, and can be told to refuse.
 */
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'

/** A running proxy. */
export interface ConnectProxy {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Every CONNECT authority seen, in order. */
  connects: string[]
  /** Answer CONNECT with 403 instead of tunnelling. */
  refuse: boolean
  close: () => Promise<void>
}

/** Starts the proxy on an ephemeral loopback port (or on `host` inside a lab namespace). */
export async function startConnectProxy (host = '127.0.0.1', port = 0): Promise<ConnectProxy> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((_req, res) => { res.writeHead(405).end() })
  const proxy: ConnectProxy = { url: '', connects: [], refuse: false, close: async () => {} }
  server.on('connect', (req, client: Socket, head: Buffer) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    const authority = req.url ?? ''
    proxy.connects.push(authority)
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority)
    if (proxy.refuse || m === null) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const upstream = connect({ host: m[1] as string, port: Number(m[2]) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => { sockets.delete(upstream); client.destroy() })
    upstream.on('error', () => { client.destroy() })
    client.on('close', () => { upstream.destroy() })
  })
  await new Promise<void>(resolve => server.listen(port, host, resolve))
  const addr = server.address() as { port: number }
  proxy.url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`
  proxy.close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
  return proxy
}
