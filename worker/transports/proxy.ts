/**
 * HTTP CONNECT proxies for the worker's WebSocket and long-poll transports, configured as
 * corporate networks do: HTTPS_PROXY (HTTP_PROXY for plain http/ws targets) and NO_PROXY.
 */
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { abortError, deadline } from '../../src/abort.ts'
import { ErrorCode, ToolkitError } from '../../src/errors.ts'
import { unbracketHost } from '../../src/host-port.ts'

/** Which proxy to use for which target. */
export interface ProxySettings {
  /** Proxy for https/wss targets (`HTTPS_PROXY`). */
  httpsProxy?: string | undefined
  /** Proxy for http/ws targets (`HTTP_PROXY`). */
  httpProxy?: string | undefined
  /** Comma-separated hosts, domain suffixes (`.corp.example`), IPs, or `*`, that go direct (`NO_PROXY`). */
  noProxy?: string | undefined
}

/** The proxy settings in `env` (upper- or lower-case names, as curl reads them). */
export function proxySettingsFromEnv (env: NodeJS.ProcessEnv): ProxySettings {
  const pick = (name: string): string | undefined => {
    const v = env[name] ?? env[name.toLowerCase()]
    return v === undefined || v === '' ? undefined : v
  }
  return { httpsProxy: pick('HTTPS_PROXY'), httpProxy: pick('HTTP_PROXY'), noProxy: pick('NO_PROXY') }
}

/** True when NO_PROXY lists `host` (exactly, as a domain suffix, or `*`). */
function bypassed (host: string, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false
  const h = unbracketHost(host).toLowerCase()
  return noProxy.split(',').map(e => e.trim().toLowerCase().replace(/:\d+$/, '')).some(entry => {
    if (entry === '') return false
    if (entry === '*') return true
    const bare = unbracketHost(entry.replace(/^\*?\./, ''))
    return h === bare || h.endsWith(`.${bare}`)
  })
}

/** The proxy URL for `target`, or undefined to go direct. Throws ERR_INVALID_CONFIG for a malformed proxy URL. */
export function proxyFor (target: URL, settings: ProxySettings): URL | undefined {
  const secure = target.protocol === 'https:' || target.protocol === 'wss:'
  const text = secure ? settings.httpsProxy : settings.httpProxy
  if (text === undefined || bypassed(target.hostname, settings.noProxy)) return undefined
  let proxy: URL
  try {
    proxy = new URL(text.includes('://') ? text : `http://${text}`)
  } catch {
    throw new ToolkitError(ErrorCode.InvalidConfig, `proxy is not a URL: "${text}"`)
  }
  if (proxy.protocol !== 'http:') throw new ToolkitError(ErrorCode.InvalidConfig, `only http:// CONNECT proxies are supported, got "${text}"`)
  return proxy
}

/**
 * Opens a tunnel to `host:port` through `proxy` with HTTP CONNECT. Resolves with the raw
 * tunnel socket (the caller owns it). Rejects with ERR_PROXY (refused, unreachable),
 * ERR_CONNECT_TIMEOUT or ERR_ABORTED.
 */
export async function connectThroughProxy (proxy: URL, host: string, port: number, options: { timeoutMs: number, signal?: AbortSignal | undefined }): Promise<Socket> {
  const authority = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`
  const limit = deadline(options.timeoutMs, options.signal, ErrorCode.ConnectTimeout, `CONNECT ${authority} through ${proxy.host} timed out after ${options.timeoutMs} ms`)
  const auth = proxy.username === '' ? {} : { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` }
  const req = request({ host: unbracketHost(proxy.hostname), port: Number(proxy.port === '' ? 80 : proxy.port), method: 'CONNECT', path: authority, headers: { host: authority, ...auth }, agent: false })
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const onAbort = (): void => { reject(abortError(limit.signal, `CONNECT ${authority}`)) }
      limit.signal.addEventListener('abort', onAbort, { once: true })
      req.once('connect', (res, socket, head) => {
        limit.signal.removeEventListener('abort', onAbort)
        if (res.statusCode !== 200) {
          socket.destroy()
          reject(new ToolkitError(ErrorCode.Proxy, `proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${res.statusCode}`, { details: { status: res.statusCode } }))
          return
        }
        if (head.length > 0) socket.unshift(head)
        resolve(socket)
      })
      req.once('error', err => {
        limit.signal.removeEventListener('abort', onAbort)
        reject(new ToolkitError(ErrorCode.Proxy, `proxy ${proxy.host} failed: ${err.message}`, { cause: err }))
      })
      req.end()
    })
  } catch (err) {
    req.destroy()
    throw err
  } finally {
    limit.clear()
  }
}
