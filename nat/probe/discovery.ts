/**
 * The probe's discovery step: ask each reflector's relay for its NAT discovery document
 * (`GET /v1/nat/info`, nat/reflector/info.ts) so one `--reflector URL` also brings the relay's
 * STUN server and any further reflectors it names. Bounded in time; failures only add notes.
 */
import { deadline } from '../../src/abort.ts'
import { ErrorCode, errorMessage } from '../../src/errors.ts'
import { unbracketHost } from '../../src/host-port.ts'
import { httpRequest } from '../../src/http/request.ts'
import { tryParseIp } from '../net/addr.ts'
import { DIALBACK_PATH } from '../reflector/dialback.ts'
import { NAT_INFO_PATH, NAT_INFO_SCHEMA } from '../reflector/info.ts'
import type { StunServerSpec } from '../stun/default-servers.ts'

/** Largest discovery document accepted. */
const MAX_INFO_BYTES = 16 * 1024
/** Most STUN addresses and reflectors taken from one document. */
const MAX_ENTRIES = 8

/** What the reflectors' relays advertised. */
export interface Discovered {
  /** STUN servers, in the order advertised (first relay first). */
  stun: StunServerSpec[]
  /** Reflector URLs beyond the ones given. */
  reflectors: string[]
  /** One line per relay that could not be asked. */
  errors: string[]
}

/** The relay origin of a reflector URL (`http://relay:9484/v1/nat/dialback` → `http://relay:9484`). */
function originOf (reflector: string): URL {
  const url = new URL(reflector)
  url.pathname = url.pathname.endsWith(DIALBACK_PATH) ? url.pathname.slice(0, -DIALBACK_PATH.length) : url.pathname
  url.pathname = url.pathname.replace(/\/+$/, '')
  url.search = ''
  return url
}

async function fetchInfo (reflector: string, signal: AbortSignal): Promise<{ stun: StunServerSpec[], reflectors: string[] }> {
  const base = originOf(reflector)
  const url = new URL(base.href.replace(/\/*$/, '') + NAT_INFO_PATH)
  const res = await httpRequest({ url, signal, maxBodyBytes: MAX_INFO_BYTES, errorCode: ErrorCode.Reflector, headers: { accept: 'application/json' } })
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
  const doc = JSON.parse(res.body.toString('utf8')) as { schema?: unknown, stun?: unknown, reflectors?: unknown }
  if (doc.schema !== NAT_INFO_SCHEMA) throw new Error(`not an ${NAT_INFO_SCHEMA} document`)
  const host = unbracketHost(base.hostname)
  const stun: StunServerSpec[] = []
  for (const s of Array.isArray(doc.stun) ? doc.stun.slice(0, MAX_ENTRIES) : []) {
    const { host: h, port } = (s ?? {}) as { host?: unknown, port?: unknown }
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue
    if (h === null) stun.push({ host, port })
    else if (typeof h === 'string' && tryParseIp(h) !== undefined) stun.push({ host: h, port })
  }
  const reflectors: string[] = []
  for (const r of Array.isArray(doc.reflectors) ? doc.reflectors.slice(0, MAX_ENTRIES) : []) {
    if (typeof r !== 'string' || !URL.canParse(r, base.href + '/')) continue
    const abs = new URL(r, base.href + '/')
    if (abs.protocol === 'http:' || abs.protocol === 'https:') reflectors.push(abs.href)
  }
  return { stun, reflectors }
}

/** Asks every reflector's relay for its discovery document, concurrently, within `timeoutMs`. Never rejects except on cancellation. */
export async function discoverFromReflectors (reflectors: string[], timeoutMs: number, cancel: AbortSignal | undefined): Promise<Discovered> {
  const out: Discovered = { stun: [], reflectors: [], errors: [] }
  const dl = deadline(timeoutMs, cancel, ErrorCode.Reflector, `no discovery document within ${timeoutMs} ms`)
  try {
    const results = await Promise.allSettled(reflectors.map(async r => await fetchInfo(r, dl.signal)))
    if (cancel?.aborted === true) throw cancel.reason
    const known = new Set(reflectors.map(r => new URL(DIALBACK_PATH, originOf(r).href + '/').href))
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        out.errors.push(`${reflectors[i] ?? ''}${NAT_INFO_PATH}: ${errorMessage(r.reason)}`)
        return
      }
      for (const s of r.value.stun) if (!out.stun.some(x => x.host === s.host && x.port === s.port)) out.stun.push(s)
      for (const u of r.value.reflectors) {
        const key = new URL(DIALBACK_PATH, originOf(u).href + '/').href
        if (!known.has(key)) { known.add(key); out.reflectors.push(u) }
      }
    })
    return out
  } finally {
    dl.clear()
  }
}
