/**
 * Soak phases under load: fuzzing the relay port with mutated frames in every protocol state,
 * 1,000 concurrent callers with answer bookkeeping, and 10,000 idle bound sessions.
 */
import { connect, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { encodeCbor } from '../../src/protocol/cbor.ts'
import { encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { encodeClose, encodeInit, encodeLifecycleResponse, encodePing, encodeRelayBind, encodeResponse } from '../../src/protocol/messages.ts'
import { prng } from '../helpers/prng.ts'
import { RelayPeer } from '../helpers/relay-peer.ts'
import { call, keepAliveAgent, mib, percentile, startRelayChild } from './harness.ts'

/** Valid frames of every kind, then mutated: bit flips, truncations, random types and lengths. */
export function fuzzPool (size: number, rand: () => number): Buffer[] {
  const seeds = [
    encodeInit(), encodePing(Buffer.from('hi')), encodeClose(),
    encodeRelayBind({ workerId: 'fuzz', intent: 'urn:x', models: ['m1', 'm2'], ticket: 'a.b' }),
    encodeResponse('call-1', Buffer.from('{"result":1}')),
    encodeLifecycleResponse({ sessionId: 's', callId: 'c', status: 'running', isFinal: false, lifecycle: { taskId: 't', sequence: 1, event: 'progress', isFinal: false } }),
    encodeFrame(MsgType.Response, encodeCbor(new Map<number, unknown>([[15, 'x'], [5, [1, [2, [3, new Map([[1, 2]])]]]]])))
  ]
  const pool: Buffer[] = []
  for (let i = 0; i < size; i++) {
    const base = Buffer.from(seeds[Math.floor(rand() * seeds.length)] as Buffer)
    const payload = base.subarray(12)
    const flips = Math.floor(rand() * 4)
    for (let f = 0; f < flips && payload.length > 0; f++) payload[Math.floor(rand() * payload.length)] = Math.floor(rand() * 256)
    let frame = base
    const r = rand()
    if (r < 0.1) frame[5] = Math.floor(rand() * 16) // another type
    else if (r < 0.15 && payload.length > 1) { // truncated payload with a consistent header
      frame = Buffer.from(base.subarray(0, 12 + Math.floor(rand() * payload.length)))
      frame.writeUInt32BE(frame.length - 12, 8)
    } else if (r < 0.18) frame = Buffer.concat([frame.subarray(0, 12), Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)))]).fill(0, 8, 12)
    frame.writeUInt32BE(frame.length - 12, 8)
    // Keep CLOSE and a wrong INIT rare: they end the connection, and reconnecting is slow.
    if (frame[5] === MsgType.Close && rand() < 0.9995) frame[5] = MsgType.Ping
    pool.push(frame)
  }
  return pool
}

/**
 * Sends at least `target` fuzzed frames over `connections` lanes. One lane in eight probes the
 * handshake states, one connection per fuzzed frame (before INIT, or after INIT in place of
 * RELAY_BIND); the others bind and stream batches, each followed by a PING whose PONG proves the
 * relay has processed the batch. Only processed frames are counted.
 */
export async function fuzz (target: number, connections: number, seed: number): Promise<string> {
  const relay = await startRelayChild({ bindRateLimit: 0 })
  const rand = prng(seed)
  const pool = fuzzPool(20_000, rand)
  let processed = 0
  let probes = 0
  let sessions = 0
  try {
    const before = await relay.stats()
    const start = performance.now()
    const lane = async (lane: number): Promise<void> => {
      for (let n = 0; processed < target; n++) {
        const localAddress = `127.0.${30 + (lane % 200)}.${1 + (n % 250)}`
        if (lane % 8 === 0) {
          const s: Socket = connect({ host: '127.0.0.1', port: relay.relayPort, localAddress })
          s.on('error', () => {})
          s.on('data', () => {})
          await new Promise<void>(resolve => { s.once('connect', resolve); s.once('close', resolve) })
          const frame = pool[Math.floor(rand() * pool.length)] as Buffer
          s.end(rand() < 0.5 ? frame : Buffer.concat([encodeInit(), frame]))
          await new Promise<void>(resolve => { if (s.destroyed) resolve(); else s.once('close', resolve) })
          probes++
          processed++
          continue
        }
        const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', localAddress)
        const ack = await p.bind(`fuzz-${lane}-${n}`).catch(() => undefined)
        if (ack?.ok !== true) { p.destroy(); continue }
        sessions++
        for (let b = 0; !p.closed && processed < target; b++) {
          const frames = Array.from({ length: 200 }, () => pool[Math.floor(rand() * pool.length)] as Buffer)
          const echo = Buffer.from(`sync-${lane}-${n}-${b}`)
          p.sendRaw(Buffer.concat([...frames, encodePing(echo)]))
          let synced = false
          while (!synced) {
            const f = await p.nextFrame(10_000).catch(() => undefined)
            if (f === undefined) break
            synced = f.type === MsgType.Pong && f.payload.includes(echo)
          }
          if (!synced) break
          processed += frames.length
        }
        p.destroy()
      }
    }
    await Promise.all(Array.from({ length: connections }, async (_, i) => { await lane(i) }))
    const seconds = (performance.now() - start) / 1000
    await delay(2000)
    const after = await relay.stats()
    const health = await call(relay.httpPort, keepAliveAgent(1), '/iicp/health')
    return `fuzz: ${processed} mutated frames processed (seed ${seed}; ${probes} handshake-state probes, ${sessions} bound sessions) in ${seconds.toFixed(1)} s; relay ${health.status === 200 ? 'alive' : 'DEAD'}; ` +
      `RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB after (heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB), sessions left ${after.sessions}`
  } finally {
    await relay.close()
  }
}

/** 1,000 concurrent callers for `seconds` through `workers` echo workers; every answer checked. */
export async function callers (concurrency: number, seconds: number, workers: number): Promise<string> {
  const relay = await startRelayChild({ bindRateLimit: 0 })
  const seen = new Map<string, number>()
  const peers: RelayPeer[] = []
  try {
    for (let w = 0; w < workers; w++) {
      const p = await RelayPeer.connect(relay.relayPort, '127.0.0.1', `127.0.40.${w + 1}`)
      await p.bind(`echo-${w}`)
      p.serve(task => {
        const id = (task as { task_id: string }).task_id
        seen.set(id, (seen.get(id) ?? 0) + 1)
        return { result: { id } }
      })
      peers.push(p)
    }
    const agent = keepAliveAgent(concurrency)
    let ok = 0
    let lost = 0
    let mismatched = 0
    const latencies: number[] = []
    let warm = false
    let startStats = await relay.stats()
    const end = performance.now() + seconds * 1000
    const warmAt = performance.now() + Math.min(10_000, seconds * 200)
    const rssSamples: number[] = []
    const sampler = (async () => {
      while (performance.now() < end) {
        await delay(Math.max(1000, seconds * 100))
        if (performance.now() < end) rssSamples.push((await relay.stats()).rss)
      }
    })()
    await Promise.all(Array.from({ length: concurrency }, async (_, c) => {
      for (let n = 0; performance.now() < end; n++) {
        const id = `c${c}-${n}`
        const a = await call(relay.httpPort, agent, `/v1/relay-for/echo-${c % workers}/v1/task`, `{"task_id":"${id}","payload":{"n":${n}}}`)
        if (a.status !== 200) { lost++; continue }
        const body = JSON.parse(a.body) as { task_id?: string, result?: { id?: string } }
        if (body.task_id !== id || body.result?.id !== id) mismatched++
        else ok++
        if (!warm && performance.now() > warmAt) { warm = true; startStats = await relay.stats() }
        latencies.push(a.ms)
      }
    }))
    await sampler
    const endStats = await relay.stats()
    agent.destroy()
    const duplicated = [...seen.values()].filter(n => n > 1).length
    return `callers: ${concurrency} concurrent for ${seconds} s through ${workers} workers: ${ok} answers ok, ${lost} lost, ${duplicated} duplicated, ${mismatched} mismatched; ` +
      `${(ok / seconds).toFixed(0)} answers/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; ` +
      `relay RSS after warm-up ${mib(startStats.rss)} MiB, samples ${rssSamples.map(mib).join('/')}, end ${mib(endStats.rss)} MiB`
  } finally {
    for (const p of peers) p.destroy()
    await relay.close()
  }
}

/** Binds `count` idle sessions from many loopback sources and reports the relay's RSS per session. */
export async function idleSessions (count: number): Promise<string> {
  const relay = await startRelayChild({ bindRateLimit: 0, maxSessions: count + 10 })
  const peers: Socket[] = []
  try {
    const before = await relay.stats()
    const init = encodeInit()
    const bindOne = async (i: number): Promise<void> => await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: relay.relayPort, localAddress: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}` })
      let got = 0
      s.on('error', reject)
      s.on('data', (c: Buffer) => { got += c.length; if (got >= 30) resolve() })
      s.on('connect', () => { s.write(Buffer.concat([init, encodeRelayBind({ workerId: `idle-${i}`, intent: '', models: [] })])) })
      peers.push(s)
    })
    const start = performance.now()
    for (let i = 0; i < count; i += 250) await Promise.all(Array.from({ length: Math.min(250, count - i) }, async (_, k) => { await bindOne(i + k) }))
    const bindSeconds = (performance.now() - start) / 1000
    await delay(1000)
    const after = await relay.stats()
    return `idle sessions: ${after.sessions} bound in ${bindSeconds.toFixed(1)} s; relay RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB = ${((after.rss - before.rss) / after.sessions / 1024).toFixed(1)} KB per session`
  } finally {
    for (const s of peers) s.destroy()
    await relay.close()
  }
}
