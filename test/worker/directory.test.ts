/**
 * Checklist 40 and 41 (the worker's side of the directory): bind ticket fetch before every bind,
 * and re-registration of the relay route after each bind, against a fake directory on loopback.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createWorker, type Worker } from '../../worker/index.ts'
import { ErrorCode } from '../../src/errors.ts'
import { startFakeDirectory } from '../helpers/fake-directory.ts'
import { startScriptedRelay } from '../helpers/scripted-relay.ts'
import { echoHandler, FAST, nextEvent, teardown } from './harness.ts'

describe('bind ticket fetch (checklist 41)', () => {
  it('POSTs /v1/relay/ticket with the bearer token and X-Node-Id, and binds with a fresh ticket each time', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const dir = await startFakeDirectory()
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-ticket', handler: echoHandler, ...FAST,
      ticketDirectory: { url: `${dir.url}/`, nodeToken: 'node-token-1' }
    })
    workers.push(worker)
    await worker.start()
    const first = await relay.nextBound()
    first.sendClose()
    const second = await relay.nextBound()
    assert.equal(first.bind?.ticket, 'ticket-1')
    assert.equal(second.bind?.ticket, 'ticket-2')
    const [req] = dir.requestsTo('/v1/relay/ticket')
    assert.ok(req !== undefined)
    assert.equal(req.method, 'POST')
    assert.equal(req.headers.authorization, 'Bearer node-token-1')
    assert.equal(req.headers['x-node-id'], 'w-ticket')
    assert.match(req.headers['content-type'] ?? '', /^application\/json/)
    assert.deepEqual(req.body, {})
  })

  it('sends relay_node_id when configured', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const dir = await startFakeDirectory()
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-aud', handler: echoHandler, ...FAST,
      ticketDirectory: { url: dir.url, nodeToken: 'tok', relayNodeId: 'relay-1' }
    })
    workers.push(worker)
    await worker.start()
    await relay.nextBound()
    assert.deepEqual(dir.requestsTo('/v1/relay/ticket')[0]?.body, { relay_node_id: 'relay-1' })
  })

  it('binds without a ticket when the fetch fails, answers garbage or times out', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const dir = await startFakeDirectory({
      ticket: (_req, n) => n === 1 ? { status: 500, body: { error: { message: 'down' } } } : n === 2 ? { status: 200, body: { token: 'x' } } : 'hang'
    })
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-noticket', handler: echoHandler, ...FAST, directoryTimeoutMs: 100,
      ticketDirectory: { url: dir.url, nodeToken: 'tok' }
    })
    workers.push(worker)
    await worker.start()
    const binds = []
    for (let i = 0; i < 3; i++) {
      const c = await relay.nextBound()
      binds.push(c)
      c.sendClose()
    }
    assert.deepEqual(binds.map(c => c.bind?.ticket), [undefined, undefined, undefined])
    assert.equal(dir.requestsTo('/v1/relay/ticket').length >= 3, true)
    // The hung fetch was given up after the directory timeout, not the default 10 s.
    assert.ok((binds[2]?.acceptedAt ?? 0) - (binds[1]?.acceptedAt ?? 0) < 2_000)
  })
})

describe('re-registration after bind (checklist 40)', () => {
  it('POSTs the relay route with current_node_token, sets relay_endpoint and drops transport_endpoint', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay({ bind: () => ({ ok: true, httpPort: 18080 }) })
    const dir = await startFakeDirectory()
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-reg', intent: 'urn:x', handler: echoHandler, ...FAST,
      register: {
        directoryUrl: dir.url,
        nodeToken: 'token-0',
        payload: { region: 'eu', capabilities: [{ intent: 'urn:x', models: [] }], transport_endpoint: 'iicp://10.0.0.5:9486', transport_method: 'direct' }
      }
    })
    workers.push(worker)
    await worker.start()
    await relay.nextBound()
    const [req] = await dir.waitRequests('/v1/register', 1)
    assert.ok(req !== undefined)
    assert.equal(req.method, 'POST')
    const endpoint = 'http://127.0.0.1:18080/v1/relay-for/w-reg'
    assert.deepEqual(req.body, {
      region: 'eu',
      capabilities: [{ intent: 'urn:x', models: [] }],
      node_id: 'w-reg',
      endpoint,
      transport_method: 'turn_relay',
      exposure_mode: 'relay_required',
      relay_endpoint: endpoint,
      transport_metadata: { relay_for: 'w-reg', relay_host: '127.0.0.1', relay_port: 18080 },
      current_node_token: 'token-0'
    })
  })

  it('uses the token the directory returned for the next registration and ticket fetch', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const dir = await startFakeDirectory()
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-rotate', handler: echoHandler, ...FAST,
      ticketDirectory: { url: dir.url, nodeToken: 'token-0' },
      register: { directoryUrl: dir.url, nodeToken: 'token-0' }
    })
    workers.push(worker)
    const registered = nextEvent(worker, 'registered')
    await worker.start()
    const first = await relay.nextBound()
    await registered
    first.sendClose()
    await relay.nextBound()
    const regs = await dir.waitRequests('/v1/register', 2)
    const tickets = dir.requestsTo('/v1/relay/ticket')
    assert.deepEqual(regs.map(r => (r.body as { current_node_token: string }).current_node_token), ['token-0', 'token-1'])
    assert.deepEqual(tickets.map(r => r.headers.authorization), ['Bearer token-0', 'Bearer token-1'])
  })

  it('logs a refused re-registration and stays bound', async t => {
    const workers: Worker[] = []
    const relay = await startScriptedRelay()
    const dir = await startFakeDirectory({ register: () => ({ status: 403, body: { error: { code: 'IICP-E050', message: 'ownership proof required' } } }) })
    teardown(t, workers, [relay, dir])
    const worker = createWorker({
      relayHost: relay.host, relayPort: relay.port, workerId: 'w-refused-reg', handler: echoHandler, ...FAST,
      register: { directoryUrl: dir.url, nodeToken: 'stale' }
    })
    workers.push(worker)
    const failed = nextEvent(worker, 'error')
    await worker.start()
    const conn = await relay.nextBound()
    const [err] = await failed
    assert.equal(err.code, ErrorCode.Directory)
    assert.match(err.message, /HTTP 403 IICP-E050: ownership proof required/)
    assert.equal(worker.state, 'bound')
    assert.deepEqual(await conn.call({ payload: 1 }), { result: { echo: 1 } })
  })
})
