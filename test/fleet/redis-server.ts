/**
 * A real `redis-server` for the fleet tests: on 127.0.0.1, a free port picked by binding port 0
 * and closing (redis-server has no `--port 0`; a lost race is retried), no persistence, in a
 * temporary directory. It can be stopped and started again on the same port (a Redis restart).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Path of the Debian redis-server binary. */
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'

/** Why the fleet tests cannot run here, or undefined when redis-server is available. */
export function redisSkipReason (): string | undefined {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) return `redis-server not found at ${REDIS_SERVER} (apt-get install redis-server, or set REDIS_SERVER)`
  return undefined
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const addr = server.address()
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return addr.port
}

/** A running redis-server. */
export class RedisServer {
  readonly port: number
  readonly #dir: string
  #child: ChildProcess | undefined

  private constructor (port: number, dir: string) {
    this.port = port
    this.#dir = dir
  }

  /** `redis://127.0.0.1:{port}`. */
  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts a server on a free port (three tries on a lost port race). */
  static async start (): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'iicp-fleet-redis-'))
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisServer(await freePort(), dir)
      try {
        await server.resume()
        return server
      } catch (err) {
        lastError = err
      }
    }
    rmSync(dir, { recursive: true, force: true })
    throw lastError
  }

  /** (Re)starts the process on this server's port; resolves once it accepts connections. */
  async resume (): Promise<void> {
    if (this.#child !== undefined) return
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
    const exited = once(child, 'exit')
    const deadline = Date.now() + 5000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${output.slice(0, 500)}`)
      if (await this.#accepts()) break
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        await exited
        throw new Error(`redis-server did not start on port ${this.port}: ${output.slice(0, 500)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    this.#child = child
  }

  /** Kills the process (SIGKILL: every key is lost, as in a crash) and waits for its exit. */
  async stop (): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /** Stops the process and removes its directory. */
  async close (): Promise<void> {
    await this.stop()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  async #accepts (): Promise<boolean> {
    return await new Promise<boolean>(resolve => {
      const s = connect({ host: '127.0.0.1', port: this.port })
      s.once('connect', () => {
        s.write('PING\r\n')
        s.once('data', (d: Buffer) => { s.destroy(); resolve(d.toString().startsWith('+PONG')) })
      })
      s.once('error', () => { s.destroy(); resolve(false) })
    })
  }
}
