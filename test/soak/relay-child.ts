/**
 * A relay in its own process for the soak campaign, so its RSS and event loop are its own:
 * `node [--max-old-space-size=N] --expose-gc relay-child.ts '<RelayOptions JSON>'`. It prints
 * `{"httpPort","relayPort"}` on stdout and answers IPC `{cmd:"stats"}` with its memory (after
 * a full GC), session count and event-loop delay; `{cmd:"close"}` closes it and exits.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createRelay, type RelayOptions } from '../../relay/index.ts'

const options = JSON.parse(process.argv[2] ?? '{}') as RelayOptions
const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, ...options })
const { httpPort, relayPort } = await relay.listen()
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
const gc = (globalThis as { gc?: () => void }).gc

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'stats') {
    gc?.()
    const m = process.memoryUsage()
    process.send?.({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, sessions: relay.sessionCount, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 })
    loop.reset()
  } else if (msg.cmd === 'close') {
    void relay.close().then(() => { process.exit(0) })
  }
})
process.stdout.write(`${JSON.stringify({ httpPort, relayPort })}\n`)
