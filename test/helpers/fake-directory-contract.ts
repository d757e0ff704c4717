/**
 * The stateful directory behind the fake's `contract` mode, faithful to
 * ../shared/spec/directory-contract.md (checklist §11): routes under `/api/v1`, the §1.1 error
 * envelopes, register validation (required fields, the three enums, `relay_capable` boolean,
 * unknown fields dropped, `relay_accept_port` ignored), a new `node_token` on every register,
 * `relay_capable` written only when the row is created, the §3.2 routability rule and the §3.3
 * dial-back behind switches, Bearer auth with the node id from the body or `X-Node-Id`, heartbeat
 * (keeps `load`/`active_jobs` when absent, fresh challenge), discover (90 s window on an
 * injectable clock, exact intent, lenient `relay_capable`, load-ordered, limit ≤ 50, no
 * `relay_accept_port`), relay tickets signed with the fixture key, `directory-key`, deregister.
 */
import { randomBytes } from 'node:crypto'
import { BlockList, isIP } from 'node:net'
import { signBindTicket } from '../../src/protocol/bind-ticket.ts'
import { TICKET_PUBLIC_KEY, TICKET_SEED } from './relay-tickets.ts'

/** Switches of the contract mode (directory-contract.md §1.2). */
export interface ContractOptions {
  /** Apply the §3.2 routability rule (production `APP_ENV`). @default false (local/testing) */
  routability?: boolean
  /** Do the §3.3 registration dial-back (`GET {endpoint}/iicp/health`, 5 s) unless declared reachable. @default false */
  dialBack?: boolean
  /** Clock in ms (liveness window). @default Date.now */
  now?: () => number
}

/** A stored node row. */
export interface NodeRow {
  node_id: string
  token: string
  hmacKey: string
  payload: Record<string, unknown>
  relay_capable: boolean
  load: number
  active_jobs: number
  last_seen: number
  registrations: number
}

/** An answer: status and JSON body. */
export interface ContractReply { status: number, body: unknown }

const TRANSPORT_METHODS = ['direct', 'upnp_mapped', 'stun_hole_punch', 'turn_relay', 'external_tunnel', 'unknown']
const NAT_TYPES = ['full_cone', 'restricted_cone', 'port_restricted', 'symmetric', 'unknown']
const EXPOSURE_MODES = ['outbound_only', 'ipv4_public_direct', 'ipv4_cgnat_blocked', 'ipv6_direct_firewall_required', 'ipv6_direct_pinhole_available', 'relay_required', 'tunnel_required', 'dual_stack_available']
const KEPT_FIELDS = ['endpoint', 'region', 'capabilities', 'limits', 'node_id', 'transport_endpoint', 'transport_method', 'nat_type', 'exposure_mode', 'transport_metadata', 'backend', 'cx_public_key', 'public_key', 'sdk_language', 'implementation_name', 'implementation_version', 'sdk_compatibility_version', 'sdk_version']
const INTENT_RE = /^urn:iicp:intent:[a-z0-9.-]+:[a-z0-9._-]+:v\d+$/
const NODE_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9._:-]*$/

const blocked = new BlockList()
for (const [net, plen] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) blocked.addSubnet(net, plen, 'ipv4')
for (const [net, plen] of [['fe80::', 10], ['fc00::', 7], ['ff00::', 8], ['2001:db8::', 32], ['::1', 128], ['::', 128]] as const) blocked.addSubnet(net, plen, 'ipv6')

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function validation (fields: Record<string, string[]>): ContractReply {
  return { status: 422, body: { error: { code: 'validation_error', message: 'The given data was invalid.', fields } } }
}

function unauthorized (message: string): ContractReply {
  return { status: 401, body: { error: { code: 'unauthorized', message } } }
}

/** §3.2: undefined when routable, else the E035 message. */
function routabilityError (endpoint: string, relaxed: boolean): string | undefined {
  let url: URL
  try { url = new URL(endpoint) } catch { return 'IICP-E035: endpoint is not a valid URL' }
  if (!['http:', 'https:', 'iicp:', 'iicpsec:'].includes(url.protocol) || url.hostname === '') return 'IICP-E035: endpoint scheme or host not allowed'
  if (relaxed) return undefined
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost' || /\.(localhost|local|test|example|invalid|lan|internal)$/.test(host)) return `IICP-E035: endpoint host ${host} is not publicly routable`
  const family = isIP(host)
  if (family === 0) return host.includes('.') ? undefined : `IICP-E035: endpoint host ${host} is not a public name`
  if (blocked.check(host, family === 4 ? 'ipv4' : 'ipv6')) return `IICP-E035: endpoint host ${host} is a private, loopback or CGNAT address`
  return undefined
}

/** The contract-mode state and handlers. */
export class ContractDirectory {
  readonly nodes = new Map<string, NodeRow>()
  readonly #o: ContractOptions
  constructor (options: ContractOptions = {}) { this.#o = options }

  #now (): number { return this.#o.now?.() ?? Date.now() }

  /** Dispatches one request (path without the `/api` prefix). */
  async handle (method: string, path: string, query: URLSearchParams, headers: Record<string, string | string[] | undefined>, body: unknown): Promise<ContractReply> {
    if (method === 'POST' && path === '/v1/register') return await this.#register(body)
    if (method === 'DELETE' && path === '/v1/register') return this.#auth(headers, body, row => { this.nodes.delete(row.node_id); return { status: 200, body: { deregistered: true } } })
    if (method === 'POST' && path === '/v1/heartbeat') return this.#heartbeat(headers, body)
    if (method === 'GET' && path === '/v1/discover') return this.#discover(query)
    if (method === 'GET' && path === '/v1/directory-key') return { status: 200, body: { public_key: TICKET_PUBLIC_KEY, algorithm: 'ed25519' } }
    if (method === 'POST' && path === '/v1/relay/ticket') return this.#auth(headers, body, row => this.#ticket(row, body))
    return { status: 404, body: { error: { code: 'not_found', message: `no route ${method} ${path}` } } }
  }

  #auth (headers: Record<string, string | string[] | undefined>, body: unknown, then: (row: NodeRow) => ContractReply): ContractReply {
    const h = headers.authorization
    const bearer = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined
    if (bearer === undefined) return unauthorized('missing bearer token')
    const fromBody = isObject(body) && typeof body.node_id === 'string' ? body.node_id : undefined
    const header = headers['x-node-id']
    const nodeId = fromBody ?? (typeof header === 'string' ? header : undefined)
    if (nodeId === undefined) return unauthorized('a node id is required with an opaque token')
    const row = this.nodes.get(nodeId)
    if (row === undefined || row.token !== bearer) return unauthorized('invalid token')
    return then(row)
  }

  async #register (body: unknown): Promise<ContractReply> {
    if (!isObject(body)) return validation({ endpoint: ['The endpoint field is required.'] })
    const fields: Record<string, string[]> = {}
    const need = (ok: boolean, field: string, msg: string): void => { if (!ok) (fields[field] ??= []).push(msg) }
    need(typeof body.endpoint === 'string' && body.endpoint.length <= 255 && URL.canParse(body.endpoint), 'endpoint', 'The endpoint must be a valid URL.')
    need(typeof body.region === 'string' && /^[a-zA-Z][a-zA-Z0-9\-_]*$/.test(body.region), 'region', 'The region field is required.')
    const caps = body.capabilities
    need(Array.isArray(caps) && caps.length > 0 && caps.every(c => isObject(c) && typeof c.intent === 'string' && INTENT_RE.test(c.intent)), 'capabilities', 'The capabilities field must list intents.')
    const limits = isObject(body.limits) ? body.limits : {}
    need(Number.isInteger(limits.max_concurrent) && (limits.max_concurrent as number) >= 1 && (limits.max_concurrent as number) <= 256, 'limits.max_concurrent', 'The limits.max_concurrent must be between 1 and 256.')
    need(Number.isInteger(limits.tokens_per_min) && (limits.tokens_per_min as number) >= 1, 'limits.tokens_per_min', 'The limits.tokens_per_min field is required.')
    if (body.node_id !== undefined) need(typeof body.node_id === 'string' && body.node_id.length <= 36 && NODE_ID_RE.test(body.node_id), 'node_id', 'The node id format is invalid.')
    for (const [field, allowed] of [['transport_method', TRANSPORT_METHODS], ['nat_type', NAT_TYPES], ['exposure_mode', EXPOSURE_MODES]] as const) {
      const v = body[field]
      if (v !== undefined && v !== null) need(typeof v === 'string' && allowed.includes(v), field, `The selected ${field} is invalid.`)
    }
    if (body.relay_capable !== undefined) need(typeof body.relay_capable === 'boolean', 'relay_capable', 'The relay capable field must be true or false.')
    if (Object.keys(fields).length > 0) return validation(fields)
    const endpoint = body.endpoint as string
    const natConcrete = typeof body.nat_type === 'string' && body.nat_type !== 'unknown'
    const method = typeof body.transport_method === 'string' ? body.transport_method : ''
    if (this.#o.routability === true) {
      const e = routabilityError(endpoint, natConcrete && method !== '' && method !== 'direct')
      if (e !== undefined) return validation({ endpoint: [e] })
    }
    if (this.#o.dialBack === true && !(natConcrete && method !== '')) {
      const ok = await fetch(`${endpoint}/iicp/health`, { signal: AbortSignal.timeout(5000) }).then(r => r.ok, () => false)
      if (!ok) return validation({ endpoint: [`IICP-E036: endpoint ${endpoint} did not answer /iicp/health`] })
    }
    const kept: Record<string, unknown> = {}
    for (const k of KEPT_FIELDS) if (body[k] !== undefined) kept[k] = body[k]
    const nodeId = typeof body.node_id === 'string' ? body.node_id : crypto.randomUUID()
    const old = this.nodes.get(nodeId)
    const token = randomBytes(20).toString('hex')
    const hmacKey = randomBytes(32).toString('hex')
    // §3.6: transport fields keep their stored values when omitted; transport_endpoint is overwritten.
    const payload = old === undefined ? kept : { ...old.payload, ...kept, transport_endpoint: kept.transport_endpoint }
    this.nodes.set(nodeId, {
      node_id: nodeId, token, hmacKey, payload,
      relay_capable: old?.relay_capable ?? body.relay_capable === true,
      load: old?.load ?? 0, active_jobs: old?.active_jobs ?? 0, last_seen: this.#now(), registrations: (old?.registrations ?? 0) + 1
    })
    return { status: 201, body: { node_id: nodeId, node_token: token, jwt_token: `jwt.${token}`, jwt_expires_at: new Date(this.#now() + 3_600_000).toISOString(), node_hmac_key: hmacKey, expires_at: null, recovered: old !== undefined } }
  }

  #heartbeat (headers: Record<string, string | string[] | undefined>, body: unknown): ContractReply {
    if (!isObject(body) || typeof body.node_id !== 'string') return validation({ node_id: ['The node id field is required.'] })
    return this.#auth(headers, body, row => {
      if (body.load !== undefined) {
        if (typeof body.load !== 'number' || body.load < 0 || body.load > 1) return validation({ load: ['The load must be between 0 and 1.'] })
        row.load = body.load
      }
      if (typeof body.active_jobs === 'number') row.active_jobs = body.active_jobs
      row.last_seen = this.#now()
      return { status: 200, body: { ok: true, next_heartbeat_ms: 30_000, reputation_score: 0.5, challenge: randomBytes(16).toString('hex') } }
    })
  }

  #discover (query: URLSearchParams): ContractReply {
    const intent = query.get('intent')
    if (intent === null || intent === '') return validation({ intent: ['The intent field is required.'] })
    const relayOnly = ['true', '1', 'yes', 'on'].includes((query.get('relay_capable') ?? '').toLowerCase())
    const limit = Math.min(50, Math.max(1, Number(query.get('limit') ?? 10) || 10))
    const fresh = this.#now() - 90_000
    const rows = [...this.nodes.values()].filter(r =>
      r.last_seen >= fresh &&
      (!relayOnly || r.relay_capable) &&
      Array.isArray(r.payload.capabilities) && r.payload.capabilities.some(c => isObject(c) && c.intent === intent))
    rows.sort((a, b) => a.load - b.load)
    const nodes = rows.slice(0, limit).map(r => ({
      node_id: r.node_id, endpoint: r.payload.endpoint, transport_endpoint: r.payload.transport_endpoint ?? null,
      transport_method: r.payload.transport_method ?? null, nat_type: r.payload.nat_type ?? null,
      transport_metadata: r.payload.transport_metadata ?? null, relay_capable: r.relay_capable, load: r.load,
      active_jobs: r.active_jobs, available: true, exposure_mode: r.payload.exposure_mode ?? null,
      routing_hint: r.relay_capable ? 'relay_service' : null
    }))
    return { status: 200, body: { nodes, count: nodes.length, relay_available: nodes.some(n => n.relay_capable) } }
  }

  #ticket (row: NodeRow, body: unknown): ContractReply {
    const aud = isObject(body) && typeof body.relay_node_id === 'string' && body.relay_node_id !== '' ? body.relay_node_id : '*'
    const iat = Math.floor(Date.now() / 1000)
    const claims = { v: 1, typ: 'relay-bind-ticket', jti: randomBytes(16).toString('hex'), iss: 'fake-directory', sub: row.node_id, aud, iat, exp: iat + 120 }
    return { status: 201, body: { ticket: signBindTicket(claims, TICKET_SEED), expires_at: claims.exp, worker_node_id: row.node_id, relay_node_id: aud, algorithm: 'ed25519' } }
  }
}
