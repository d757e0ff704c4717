/**
 * coturn as an independent judge on loopback: find its binaries, run its CLI clients with a
 * deadline and bounded output, and start/stop `turnserver` (STUN only) on a free port pair.
 * Every child is killed by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { stunBinding } from '../../nat/stun/index.ts'
import { closeUdpSocket, openUdpSocket } from '../../nat/stun/udp.ts'

/** Most output kept from a child (the rest is dropped). */
const MAX_OUTPUT_BYTES = 256 * 1024

/** The absolute path of an executable on PATH, or undefined. */
export function findBinary (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

function collect (child: ChildProcess): () => string {
  const chunks: Buffer[] = []
  let size = 0
  const onData = (chunk: Buffer): void => {
    if (size >= MAX_OUTPUT_BYTES) return
    chunks.push(chunk)
    size += chunk.length
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  return () => Buffer.concat(chunks).toString('utf8')
}

async function waitExit (child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false) }, ms)
    const onExit = (): void => { clearTimeout(timer); resolve(true) }
    child.once('exit', onExit)
  })
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  if (await waitExit(child, 3000)) return
  child.kill('SIGKILL')
  await waitExit(child, 3000)
}

/** Runs a CLI to completion (killed by PID after `timeoutMs`) and returns its exit code and output. */
export async function runTool (path: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null, output: string, timedOut: boolean }> {
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = collect(child)
  const spawned = new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject) })
  await spawned
  const exited = await waitExit(child, timeoutMs)
  if (!exited) await stop(child)
  return { code: child.exitCode, output: output(), timedOut: !exited }
}

/** A UDP port P such that P and P+1 are free on both 127.0.0.2 and 127.0.0.3 right now. */
async function freePortPair (): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await openUdpSocket({ family: 4, address: '127.0.0.2', onError: () => {} })
    const port = first.address().port
    const held = [first]
    try {
      if (port >= 65535) continue
      for (const [address, p] of [['127.0.0.3', port], ['127.0.0.2', port + 1], ['127.0.0.3', port + 1]] as const) {
        held.push(await openUdpSocket({ family: 4, address, port: p, onError: () => {} }))
      }
      return port
    } catch {
      // taken on one of them: try another pair
    } finally {
      await Promise.all(held.map(closeUdpSocket))
    }
  }
  throw new Error('no free UDP port pair on 127.0.0.2/127.0.0.3')
}

/** A running coturn STUN server. */
export interface CoturnServer {
  /** Primary port on 127.0.0.2 (the alternate port is port + 1 on 127.0.0.3). */
  port: number
  /** Output so far. */
  output: () => string
  /** Kills it by PID and removes its temp dir. */
  stop: () => Promise<void>
}

/** Starts `turnserver --stun-only` on 127.0.0.2 + 127.0.0.3 and waits until it answers a Binding request. */
export async function startCoturn (path: string): Promise<CoturnServer> {
  const port = await freePortPair()
  const dir = await mkdtemp(join(tmpdir(), 'iicp-stun-coturn-'))
  const child = spawn(path, [
    '-n', '--no-auth', '--stun-only', '-L', '127.0.0.2', '-L', '127.0.0.3',
    '--listening-port', String(port), '--alt-listening-port', String(port + 1),
    '--no-tls', '--no-dtls', '--no-tcp', '--no-cli', '--log-file', 'stdout', '--simple-log',
    '--pidfile', join(dir, 'turnserver.pid')
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = collect(child)
  const stopAll = async (): Promise<void> => {
    await stop(child)
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject) })
    const exited = new Promise<never>((_resolve, reject) => {
      child.once('exit', (code) => { reject(new Error(`turnserver exited early (${code}): ${output().slice(-2000)}`)) })
    })
    exited.catch(() => {})
    await Promise.race([stunBinding({ server: { address: '127.0.0.2', port }, rtoMs: 50, maxRequests: 10, timeoutMs: 10_000 }), exited])
  } catch (err) {
    await stopAll()
    throw err
  }
  return { port, output, stop: stopAll }
}
