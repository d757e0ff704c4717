/**
 * Soak phases for the attacks of issue 7: the decode attack (16 MiB CBOR frames, also under a
 * 512 MB heap), the partial-frame attack under the inbound budget, the distributed slowloris
 * on the relay port, and slowloris on the HTTP front against the default deadlines.
 */
import { connect, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { MsgType, writeFrameHeader } from '../../src/protocol/frame.ts'
import { RelayPeer } from '../helpers/relay-peer.ts'
import { call, keepAliveAgent, mib, percentile, startRelayChild, type RelayChild } from './harness.ts'

const MiB = 1024 * 1024
const FRAME_PAYLOAD = 16 * MiB

/** A 16 MiB RESPONSE: an array of empty maps (`kind` 'array') or `{5: [{}…], 15: "x"}` ('map'). */
function decodeAttackFrame (kind: 'array' | 'map'): Buffer {
  const out = Buffer.alloc(12 + FRAME_PAYLOAD, 0xa0)
  writeFrameHeader(out, 0, MsgType.Response, FRAME_PAYLOAD)
  if (kind === 'array') {
    out[12] = 0x9a
    out.writeUInt32BE(FRAME_PAYLOAD - 5, 13)
  } else {
    out[12] = 0xa2
    out[13] = 0x05
    out[14] = 0x9a
    out.writeUInt32BE(FRAME_PAYLOAD - 10, 15)
    out.set([0x0f, 0x61, 0x78], 12 + FRAME_PAYLOAD - 3)
  }
  return out
}

/** Legitimate calls in a loop through a bound echo worker until `stop()`; latencies after `mark()`. */
async function legitimateLoad (relay: RelayChild): Promise<{ mark: () => void, stop: () => Promise<{ latencies: number[], failures: number }> }> {
  // Under attack (and on a busy machine) a handshake may take more than the peer's 2 s frame wait: retry.
  let worker: RelayPeer | undefined
  for (let attempt = 0; worker === undefined; attempt++) {
    const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', '127.0.5.1')
    const ack = await p.bind('legit').catch((err: unknown) => { if (attempt >= 4) throw err })
    if (ack?.ok === true) worker = p
    else p.destroy()
  }
  worker.serve(task => ({ result: task }))
  const agent = keepAliveAgent(1)
  let running = true
  let latencies: number[] = []
  let failures = 0
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const a = await call(relay.httpPort, agent, '/v1/relay-for/legit/v1/task', `{"task_id":"t${i}"}`, 60_000)
      if (a.status === 200) latencies.push(a.ms)
      else failures++
      await delay(5)
    }
  })()
  return {
    mark: () => { latencies = []; failures = 0 },
    stop: async () => {
      running = false
      await loop
      agent.destroy()
      worker.destroy()
      return { latencies, failures }
    }
  }
}

/** Decode attack: `frames` attackers each send one 16 MiB frame while legitimate calls run. */
export async function decodeAttack (frames: number, nodeFlags: string[] = [], kindsOf: (i: number) => 'array' | 'map' = i => (i % 2 === 0 ? 'array' : 'map')): Promise<string> {
  const relay = await startRelayChild({ bindRateLimit: 0 }, nodeFlags)
  try {
    const load = await legitimateLoad(relay)
    const attackers: RelayPeer[] = []
    for (let i = 0; i < frames; i++) {
      const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', `127.0.6.${i + 1}`)
      await p.bind(`attacker-${i}`)
      attackers.push(p)
    }
    // Built before the measurement: filling 16 MiB would stall this process's callers too.
    const kinds = attackers.map((_, i) => kindsOf(i))
    const built = kinds.map(k => decodeAttackFrame(k))
    await delay(500)
    const before = await relay.stats()
    load.mark()
    const start = performance.now()
    await Promise.all(attackers.map(async (p, i) => {
      await new Promise<void>(resolve => { p.socket.write(built[i] as Buffer, () => { resolve() }) })
    }))
    const sentMs = performance.now() - start
    await delay(3000)
    const { latencies, failures } = await load.stop()
    const after = await relay.stats()
    for (const p of attackers) p.destroy()
    const alive = relay.alive() && (await call(relay.httpPort, keepAliveAgent(1), '/iicp/health')).status === 200
    return `decode attack: ${frames} x 16 MiB frame(s) [${kinds.join(', ')}]${nodeFlags.length > 0 ? ` (${nodeFlags.join(' ')})` : ''}: sent in ${sentMs.toFixed(0)} ms; ` +
      `legit calls during the attack: ${latencies.length} ok, ${failures} failed, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ` +
      `relay event-loop max ${after.loopMaxMs.toFixed(1)} ms; RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB; relay ${alive ? 'alive' : 'DEAD'}`
  } finally {
    await relay.close()
  }
}

/** Partial frames: 40 sessions each send 16 MiB - 1 of one frame and stop, against a 256 MiB budget. */
export async function partialFrameAttack (): Promise<string> {
  const relay = await startRelayChild({ bindRateLimit: 0, maxInboundBufferedBytes: 256 * MiB })
  try {
    const before = await relay.stats()
    const attackers: RelayPeer[] = []
    for (let i = 0; i < 40; i++) {
      const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', `127.0.7.${i + 1}`)
      await p.bind(`partial-${i}`)
      attackers.push(p)
    }
    // Shaped like a real answer ({5: bstr(…)…}) so the relay must buffer it.
    const body = Buffer.alloc(FRAME_PAYLOAD - 1, 0x41)
    body.set([0xa2, 0x05, 0x5a], 0)
    body.writeUInt32BE(FRAME_PAYLOAD - 20, 3)
    const header = Buffer.alloc(12)
    writeFrameHeader(header, 0, MsgType.Response, FRAME_PAYLOAD)
    for (const p of attackers) { p.socket.write(header); p.socket.write(body) }
    await delay(5000)
    const during = await relay.stats()
    const dropped = attackers.filter(p => p.closed).length
    const load = await legitimateLoad(relay)
    await delay(500)
    const { latencies } = await load.stop()
    for (const p of attackers) p.destroy()
    await delay(3000)
    const after = await relay.stats()
    return `partial frames: 40 x (16 MiB - 1) against a 256 MiB budget: ${dropped} sessions dropped; RSS ${mib(before.rss)} -> ${mib(during.rss)} MiB during, ` +
      `${mib(after.rss)} MiB 3 s after the sockets closed; legit calls meanwhile ${latencies.length} ok (p99 ${percentile(latencies, 99).toFixed(1)} ms)`
  } finally {
    await relay.close()
  }
}

/** Distributed slowloris on the relay port: 125 sources x 16 silent connections, re-opened when closed; a new worker binds. */
export async function relaySlowloris (seconds: number): Promise<string> {
  const relay = await startRelayChild({})
  const sockets = new Set<Socket>()
  let opened = 0
  let running = true
  const open = (ip: string): void => {
    if (!running) return
    const s = connect({ host: '127.0.0.1', port: relay.relayPort, localAddress: ip })
    opened++
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => { sockets.delete(s); setImmediate(() => { open(ip) }) })
  }
  try {
    for (let ip = 1; ip <= 125; ip++) for (let k = 0; k < 16; k++) open(`127.0.${8 + Math.floor(ip / 250)}.${(ip % 250) + 1}`)
    await delay(2000)
    const start = performance.now()
    let attempts = 0
    let boundMs = Number.NaN
    while (performance.now() - start < seconds * 1000) {
      attempts++
      const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', '127.0.20.1').catch(() => undefined)
      const ack = await p?.bind(`slowloris-legit-${attempts}`).catch(() => undefined)
      p?.destroy()
      if (ack?.ok === true) { boundMs = performance.now() - start; break }
    }
    await delay(Math.max(0, seconds * 1000 - (performance.now() - start)))
    return `relay-port slowloris: 125 sources x 16 silent connections (${opened} opened in ${seconds + 2} s): a new worker bound after ${boundMs.toFixed(0)} ms (${attempts} attempt(s))`
  } finally {
    running = false
    for (const s of sockets) s.destroy()
    await relay.close()
  }
}

/** Slowloris on the HTTP front with the default 10 s header and 60 s request deadlines. */
export async function httpSlowloris (headerSockets: number, bodySockets: number): Promise<string> {
  const relay = await startRelayChild({})
  try {
    type Kind = 'silent' | 'headers' | 'body'
    const one = async (kind: Kind): Promise<{ kind: Kind, ms: number, answered: boolean }> => await new Promise(resolve => {
      const s = connect({ host: '127.0.0.1', port: relay.httpPort })
      let start = performance.now()
      let answered = false
      let trickle: NodeJS.Timeout | undefined
      s.on('connect', () => {
        start = performance.now()
        if (kind === 'headers') s.write('GET /iicp/health HTTP/1.1\r\nHost: x\r\n')
        if (kind === 'body') s.write('POST /v1/relay-for/w/v1/task HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{')
        if (kind !== 'silent') trickle = setInterval(() => { s.write(kind === 'headers' ? 'X-A: b\r\n' : ' ') }, 1000)
      })
      s.on('data', () => { answered = true })
      s.on('error', () => {})
      const giveUp = setTimeout(() => { s.destroy() }, 75_000)
      s.on('close', () => { clearInterval(trickle); clearTimeout(giveUp); resolve({ kind, ms: performance.now() - start, answered }) })
    })
    const runs = [
      ...Array.from({ length: headerSockets }, async (_, i) => await one(i % 2 === 0 ? 'silent' : 'headers')),
      ...Array.from({ length: bodySockets }, async () => await one('body'))
    ]
    const results = await Promise.all(runs)
    const line = (kinds: Kind[], deadline: number): string => {
      const r = results.filter(x => kinds.includes(x.kind))
      const ms = r.map(x => x.ms)
      return `${r.length} sockets, deadline ${deadline / 1000} s: closed after ${(Math.min(...ms) / 1000).toFixed(2)}-${(Math.max(...ms) / 1000).toFixed(2)} s, ${r.filter(x => !x.answered).length} without an answer`
    }
    return `HTTP slowloris: headers ${line(['silent', 'headers'], 10_000)}; body ${line(['body'], 60_000)}`
  } finally {
    await relay.close()
  }
}
