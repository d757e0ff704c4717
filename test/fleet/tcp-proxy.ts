/**
 * A loopback TCP proxy that can be paused: while paused nothing crosses it in either direction
 * and new connections wait, without any reset — a network partition as a client sees one.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A pausable TCP proxy to 127.0.0.1:`targetPort`. */
export class TcpProxy {
  readonly #server: Server
  readonly #targetPort: number
  readonly #sockets = new Set<Socket>()
  readonly #waiting = new Set<Socket>()
  #paused = false
  port = 0

  constructor (targetPort: number) {
    this.#targetPort = targetPort
    this.#server = createServer(client => { this.#onClient(client) })
  }

  /** Listens on 127.0.0.1 (ephemeral port). */
  async listen (): Promise<number> {
    await new Promise<void>(resolve => this.#server.listen(0, '127.0.0.1', resolve))
    const addr = this.#server.address()
    this.port = addr !== null && typeof addr === 'object' ? addr.port : 0
    return this.port
  }

  /** Stops every byte in both directions. */
  pause (): void {
    this.#paused = true
    for (const s of this.#sockets) s.pause()
  }

  /** Lets traffic flow again (held bytes included) and connects the connections that waited. */
  resume (): void {
    this.#paused = false
    for (const s of this.#sockets) s.resume()
    for (const c of [...this.#waiting]) {
      this.#waiting.delete(c)
      this.#pipe(c)
    }
  }

  /** Closes the listener and every connection. */
  async close (): Promise<void> {
    for (const s of [...this.#sockets, ...this.#waiting]) s.destroy()
    await new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
  }

  #onClient (client: Socket): void {
    client.on('error', () => {})
    if (this.#paused) {
      client.pause()
      this.#waiting.add(client)
      client.once('close', () => this.#waiting.delete(client))
      return
    }
    this.#pipe(client)
  }

  #pipe (client: Socket): void {
    const upstream = connect({ host: '127.0.0.1', port: this.#targetPort })
    upstream.on('error', () => {})
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      this.#sockets.add(a)
      a.on('data', (d: Buffer) => { b.write(d) })
      a.once('close', () => {
        this.#sockets.delete(a)
        b.destroy()
      })
    }
    if (this.#paused) this.pause()
    else client.resume()
  }
}
