/**
 * Child process of the scale bench: many lightweight raw-socket workers in one process. Each
 * dials the relay port from one of the given loopback sources, runs INIT/ACK and RELAY_BIND,
 * then idles (a PING every PING_INTERVAL_MS, as a worker does). When its session ends it
 * re-dials with the worker's own back-off (worker/reconnect.ts: after a bound session
 * `min · random[1, 2)`, then `min · 2^n · random[1, 2)` capped at `max`).
 *
 * argv: RELAY_PORT COUNT PREFIX SOURCES (comma-separated 127.x addresses). IPC: `'go'` starts
 * binding with at most HANDSHAKES_IN_FLIGHT handshakes at once and answers `{ kind: 'bound',
 * ms }` when all are bound; `'count'` answers `{ kind: 'count', bound, boundAt }` (boundAt:
 * Date.now() of every bind since the previous count); `'stop'` closes everything and exits.
 */
import { connect, type Socket } from 'node:net'
import { RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS, PING_INTERVAL_MS } from '../../src/limits.ts'
import { FrameDecoder, MsgType } from '../../src/protocol/frame.ts'
import { encodeInit, encodePing, encodeRelayBind, parseRelayAck } from '../../src/protocol/messages.ts'

const [portArg, countArg, prefix = 'scale', sourcesArg = '127.0.0.1'] = process.argv.slice(2)
const relayPort = Number(portArg)
const count = Number(countArg)
const sources = sourcesArg.split(',')
/** Handshakes in flight at once during the initial bind burst. */
const HANDSHAKES_IN_FLIGHT = 256
const INIT = encodeInit()
const PING = encodePing()

interface Binder {
  index: number
  socket: Socket | undefined
  bound: boolean
  /** Failed attempts since the last bound session (for the back-off). */
  failures: number
  timer: NodeJS.Timeout | undefined
}

const binders: Binder[] = Array.from({ length: count }, (_, index) => ({ index, socket: undefined, bound: false, failures: 0, timer: undefined }))
let boundCount = 0
let boundAt: number[] = []
let stopping = false
let onAllBound: (() => void) | undefined

function backoff (b: Binder): number {
  const random = 1 + Math.random()
  const delay = b.failures === 0 ? RECONNECT_MIN_DELAY_MS * random : RECONNECT_MIN_DELAY_MS * 2 ** (b.failures - 1) * random
  return Math.min(Math.round(delay), RECONNECT_MAX_DELAY_MS)
}

/** Dials once; resolves when the attempt is over (bound or failed), so the burst can be paced. */
async function dial (b: Binder): Promise<void> {
  await new Promise<void>(resolve => {
    const socket = connect({ host: '127.0.0.1', port: relayPort, localAddress: sources[b.index % sources.length] })
    b.socket = socket
    const decoder = new FrameDecoder()
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      resolve()
    }
    socket.setNoDelay(true)
    socket.on('connect', () => { socket.write(INIT) })
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === MsgType.Ack) {
          socket.write(encodeRelayBind({ workerId: `${prefix}-${b.index}`, intent: '', models: [] }))
        } else if (frame.type === MsgType.RelayAck) {
          if (!parseRelayAck(frame.payload).ok) {
            socket.destroy()
            return
          }
          b.bound = true
          b.failures = 0
          boundCount++
          boundAt.push(Date.now())
          if (boundCount === count) onAllBound?.()
          settle()
        }
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      settle()
      if (b.bound) {
        b.bound = false
        boundCount--
      } else {
        b.failures++
      }
      b.socket = undefined
      if (!stopping) b.timer = setTimeout(() => { void dial(b) }, backoff(b))
    })
  })
}

/** Binds every worker with at most HANDSHAKES_IN_FLIGHT attempts at once. */
async function bindAll (): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < binders.length) await dial(binders[next++] as Binder)
  }
  await Promise.all(Array.from({ length: HANDSHAKES_IN_FLIGHT }, lane))
}

// The keepalive a worker sends; one timer for all.
const keepalive = setInterval(() => {
  for (const b of binders) if (b.bound) b.socket?.write(PING)
}, PING_INTERVAL_MS)

process.on('message', (msg) => {
  if (msg === 'go') {
    const started = performance.now()
    const all = new Promise<void>(resolve => { onAllBound = resolve })
    void bindAll().then(async () => { await all }).then(() => { process.send?.({ kind: 'bound', ms: performance.now() - started }) })
  } else if (msg === 'count') {
    process.send?.({ kind: 'count', bound: boundCount, boundAt })
    boundAt = []
  } else if (msg === 'stop') {
    stopping = true
    clearInterval(keepalive)
    for (const b of binders) {
      clearTimeout(b.timer)
      b.socket?.destroy()
    }
    process.disconnect?.()
  }
})
process.send?.({ kind: 'ready' })
