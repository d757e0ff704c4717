/**
 * The worker's relay dialer: one transport (TCP, TLS, WebSocket, long-poll) or `auto`, which
 * tries TCP, then WSS on 443, then long-poll, remembers what worked, and goes back to the
 * better transport later: after `upgradeAfterMs` on a fallback it probes the better ones, and
 * when one answers it ends the session so the reconnect takes the better path.
 */
import type { Agent } from 'node:http'
import { ErrorCode, ToolkitError, errorMessage } from '../../src/errors.ts'
import { formatHostPort } from '../../src/host-port.ts'
import type { Logger } from '../../src/log.ts'
import type { ByteStream } from '../../src/transport/frame-connection.ts'
import { PollClient } from '../browser/poll-client.ts'
import { dialRelay } from '../dial.ts'
import { createTransportAgent } from './agent.ts'
import { dialTls } from './dial-tls.ts'
import { dialWebSocket } from './dial-ws.ts'
import { LongPollStream } from './long-poll-stream.ts'
import { createPollFetch } from './poll-fetch.ts'
import { proxyFor, type ProxySettings } from './proxy.ts'
import { autoTargets, describeTarget, parseRelayTarget, targetHost, type RelayTarget, type TransportMode } from './targets.ts'

/** Transport options of a worker (`WorkerOptions.transport`). */
export interface WorkerTransportOptions {
  /** What `--relay` says: `host:port`, `iicpsec://host:port`, `wss://host/path`, `https://host`, or with `auto` a host or base URL. */
  relay: string
  /** `auto`, or force one transport. @default the relay address's scheme */
  mode?: TransportMode
  /** Extra trusted CA certificate (PEM text) for a private CA; certificates are always verified. */
  ca?: string
  /** HTTP CONNECT proxy for WSS and long-poll (the CLI reads HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
  proxy?: ProxySettings
  /** `auto`: the TCP port tried first. @default 9485, or the port in a `host:port` relay */
  tcpPort?: number
  /** `auto`: how long the worker stays on a fallback before probing the better transports. @default 300000 */
  upgradeAfterMs?: number
  /** Long-poll pulls held at once. @default 4 */
  pullers?: number
}

/** A dialled transport. */
export interface DialedTransport {
  stream: ByteStream
  target: RelayTarget
}

/** Dials the relay with the configured transport(s). */
export interface RelayDialer {
  /** The targets in preference order (one unless `auto`). */
  readonly targets: readonly RelayTarget[]
  /** Dials the remembered (or best) target, falling back in order. Rejects with the last target's error. */
  dial: (signal: AbortSignal, timeoutMs: number) => Promise<DialedTransport>
  /** Frees the keep-alive agents. */
  close: () => void
}

const DEFAULT_UPGRADE_AFTER_MS = 300_000

/** Creates the dialer; throws ERR_INVALID_CONFIG for a bad relay address or proxy. */
export function createRelayDialer (o: WorkerTransportOptions, logger: Logger): RelayDialer {
  const mode = o.mode ?? parseRelayTarget(o.relay).kind
  const targets = mode === 'auto' ? autoTargets(o.relay, o.tcpPort) : [parseRelayTarget(o.relay)]
  if (mode !== 'auto' && targets[0]?.kind !== mode) {
    throw new ToolkitError(ErrorCode.InvalidConfig, `--transport ${mode} does not match the relay address "${o.relay}" (a ${targets[0]?.kind ?? ''} address)`)
  }
  const upgradeAfterMs = o.upgradeAfterMs ?? DEFAULT_UPGRADE_AFTER_MS
  const pullers = o.pullers ?? 4
  const agents = new Map<string, Agent>()
  let preferred = 0
  let preferredSince = 0

  function agentFor (url: URL, timeoutMs: number): Agent {
    const secure = url.protocol === 'https:' || url.protocol === 'wss:'
    const key = `${secure ? 's' : 'p'}:${url.host}`
    let agent = agents.get(key)
    if (agent === undefined) {
      agent = createTransportAgent({ secure, ca: o.ca, proxy: proxyFor(url, o.proxy ?? {}), connectTimeoutMs: timeoutMs, maxSockets: pullers + 16 })
      agents.set(key, agent)
    }
    return agent
  }

  async function dialTarget (t: RelayTarget, signal: AbortSignal, timeoutMs: number): Promise<ByteStream> {
    switch (t.kind) {
      case 'tcp':
        return await dialRelay(t.host, t.port, { timeoutMs, signal })
      case 'tls':
        return await dialTls(t.host, t.port, { ca: o.ca, timeoutMs, signal })
      case 'wss': {
        const proxied = proxyFor(t.url, o.proxy ?? {}) !== undefined
        return await dialWebSocket(t.url, { ca: o.ca, timeoutMs, signal, ...(proxied ? { agent: agentFor(t.url, timeoutMs) } : {}) })
      }
      case 'long-poll': {
        const httpPort = Number(t.url.port === '' ? (t.url.protocol === 'https:' ? 443 : 80) : t.url.port)
        const client = new PollClient(t.url.href, createPollFetch(agentFor(t.url, timeoutMs)))
        return new LongPollStream(client, { host: t.url.hostname, httpPort, pullers, maxResultsInFlight: 16 })
      }
    }
  }

  /** While on a fallback: after `upgradeAfterMs`, probe the better targets and end the session when one answers. */
  function watchForUpgrade (stream: ByteStream, index: number): void {
    if (index === 0 || mode !== 'auto') return
    const probe = async (): Promise<void> => {
      for (let i = 0; i < index; i++) {
        const t = targets[i] as RelayTarget
        if (t.kind === 'long-poll') continue
        try {
          const s = await dialTarget(t, AbortSignal.timeout(10_000), 10_000)
          s.destroy()
          logger.info({ transport: describeTarget(t) }, 'a better transport answers again: ending this session to switch')
          stream.end()
          return
        } catch {
          // Still unreachable; try the next one, then wait another period.
        }
      }
      timer.refresh()
    }
    const timer = setTimeout(() => { void probe() }, upgradeAfterMs).unref()
    stream.once('close', () => { clearTimeout(timer) })
  }

  return {
    targets,
    async dial (signal, timeoutMs) {
      const start = preferred > 0 && performance.now() - preferredSince >= upgradeAfterMs ? 0 : preferred
      const order = [...targets.keys()].slice(start).concat([...targets.keys()].slice(0, start))
      let lastError: unknown
      for (const i of order) {
        const t = targets[i] as RelayTarget
        try {
          const stream = await dialTarget(t, signal, timeoutMs)
          if (i !== preferred || preferredSince === 0) {
            preferred = i
            preferredSince = performance.now()
            if (targets.length > 1) logger.info({ transport: describeTarget(t) }, 'relay transport selected')
          }
          watchForUpgrade(stream, i)
          return { stream, target: t }
        } catch (err) {
          if (signal.aborted) throw err
          lastError = err
          if (targets.length > 1) logger.warn({ transport: describeTarget(t), reason: errorMessage(err) }, 'relay transport failed; trying the next')
        }
      }
      throw lastError
    },
    close () {
      for (const a of agents.values()) a.destroy()
      agents.clear()
    }
  }
}

/**
 * Where consumers reach the worker after a bind over `target`: the relay host it dialled and
 * `http(s)://host:port/v1/relay-for/{id}`, https when the worker reached an HTTPS front.
 */
export function transportEndpoint (target: RelayTarget, relayHttpPort: number, workerId: string): { relayHost: string, endpoint: string } {
  const relayHost = targetHost(target)
  const secure = (target.kind === 'wss' && target.url.protocol === 'wss:') || (target.kind === 'long-poll' && target.url.protocol === 'https:')
  return { relayHost, endpoint: `${secure ? 'https' : 'http'}://${formatHostPort(relayHost, relayHttpPort)}/v1/relay-for/${workerId}` }
}
