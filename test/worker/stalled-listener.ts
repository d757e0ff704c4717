/**
 * A TCP listener on 127.0.0.1 whose connects never complete: a child Node process listens with
 * backlog 1 and is then SIGSTOPped, so it never accepts; two filler connections fill the accept
 * queue and the kernel drops every later SYN (net.ipv4.tcp_abort_on_overflow = 0). That is the
 * loopback stand-in for a blackholed address, with no traffic leaving the host.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'

/** A stalled listener; `close()` kills the child (by PID) and frees the fillers. */
export interface StalledListener {
  readonly port: number
  close: () => Promise<void>
}

const CHILD = "const s=require('node:net').createServer(()=>{});s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n')})"

/** Starts the stalled listener and fills its accept queue. */
export async function startStalledListener (): Promise<StalledListener> {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit')
  const [chunk] = await once(child.stdout, 'data') as [Buffer]
  const port = Number(chunk.toString('utf8').trim())
  const pid = child.pid
  if (pid === undefined || !Number.isInteger(port)) throw new Error('stalled listener did not start')
  process.kill(pid, 'SIGSTOP')
  const fillers: Socket[] = []
  // backlog 1 queues two completed connections; wait until both have completed.
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
    await once(s, 'connect')
  }
  let closing: Promise<void> | undefined
  return {
    port,
    close: async () => {
      closing ??= (async () => {
        for (const s of fillers) s.destroy()
        process.kill(pid, 'SIGKILL')
        await exited
      })()
      await closing
    }
  }
}
