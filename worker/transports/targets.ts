/**
 * What `--relay` names: `host:port` (TCP), `iicpsec://host:port` (TLS), `wss://host[:port]/path`
 * (WebSocket; `ws://` for a plain front), `https://host[:port]` (long-poll; `http://` for a
 * plain front). With `--transport auto` a relay host or base URL becomes the list TCP, WSS on
 * 443, long-poll on 443.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { formatHostPort, parseHostPort } from '../../src/host-port.ts'
import { DEFAULT_RELAY_ACCEPT_PORT } from '../../src/limits.ts'
import { RELAY_WS_PATH } from '../../src/transport/websocket-protocol.ts'

/** One way to reach a relay. */
export type RelayTarget =
  | { kind: 'tcp', host: string, port: number }
  | { kind: 'tls', host: string, port: number }
  | { kind: 'wss', url: URL }
  | { kind: 'long-poll', url: URL }

/** How the worker picks its transport. */
export type TransportMode = 'auto' | RelayTarget['kind']

/** The host a target dials. */
export function targetHost (t: RelayTarget): string {
  return t.kind === 'tcp' || t.kind === 'tls' ? t.host : t.url.hostname.replace(/^\[|\]$/g, '')
}

/** `tcp://h:p`, `iicpsec://h:p`, or the URL: for logs and the `transport` field of bind info. */
export function describeTarget (t: RelayTarget): string {
  if (t.kind === 'tcp') return formatHostPort(t.host, t.port)
  if (t.kind === 'tls') return `iicpsec://${formatHostPort(t.host, t.port)}`
  return t.url.href
}

function invalid (message: string): ToolkitError {
  return new ToolkitError(ErrorCode.InvalidConfig, message)
}

function url (text: string): URL {
  try {
    return new URL(text)
  } catch {
    throw invalid(`relay is not a valid URL: "${text}"`)
  }
}

/** Parses one explicit relay address. Throws ERR_INVALID_CONFIG (ERR_INVALID_ADDRESS for a bad host:port). */
export function parseRelayTarget (text: string): RelayTarget {
  const scheme = /^([a-z]+):\/\//i.exec(text)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    const hp = parseHostPort(text, { defaultPort: DEFAULT_RELAY_ACCEPT_PORT })
    return { kind: 'tcp', host: hp.host, port: hp.port }
  }
  if (scheme === 'iicp' || scheme === 'iicpsec') {
    const hp = parseHostPort(text.slice(scheme.length + 3).replace(/\/.*$/, ''), { defaultPort: DEFAULT_RELAY_ACCEPT_PORT })
    return { kind: scheme === 'iicp' ? 'tcp' : 'tls', host: hp.host, port: hp.port }
  }
  if (scheme === 'wss' || scheme === 'ws') {
    const u = url(text)
    if (u.pathname === '/' || u.pathname === '') u.pathname = RELAY_WS_PATH
    return { kind: 'wss', url: u }
  }
  if (scheme === 'https' || scheme === 'http') {
    const u = url(text)
    u.pathname = u.pathname.replace(/\/+$/, '')
    return { kind: 'long-poll', url: u }
  }
  throw invalid(`relay scheme "${scheme}://" is not one of iicp, iicpsec, wss, ws, https, http`)
}

/**
 * The `auto` list for a relay host or base URL: TCP (the given port, or 9485), then WSS and
 * long-poll on the base URL's port (443 by default). `https://host:8443` keeps 8443 for both
 * HTTP transports; `http://` bases use ws:// and http:// (test setups).
 */
export function autoTargets (text: string, tcpPort = DEFAULT_RELAY_ACCEPT_PORT): RelayTarget[] {
  const scheme = /^([a-z]+):\/\//i.exec(text)?.[1]?.toLowerCase()
  let base: URL
  let tcp: number = tcpPort
  if (scheme === undefined || scheme === 'iicp') {
    const hp = parseHostPort(scheme === undefined ? text : text.slice(7), { defaultPort: tcpPort })
    tcp = hp.port
    base = url(`https://${formatHostPort(hp.host, 443)}`)
  } else if (scheme === 'https' || scheme === 'http') {
    base = url(text)
  } else {
    throw invalid(`--transport auto takes a relay host or an http(s) base URL, got "${text}"`)
  }
  const host = base.hostname.replace(/^\[|\]$/g, '')
  const ws = new URL(base.href)
  ws.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:'
  ws.pathname = RELAY_WS_PATH
  const poll = new URL(base.href)
  poll.pathname = poll.pathname.replace(/\/+$/, '')
  return [{ kind: 'tcp', host, port: tcp }, { kind: 'wss', url: ws }, { kind: 'long-poll', url: poll }]
}
