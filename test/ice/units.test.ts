/**
 * Direct-path units: the connect intent's payloads, coturn REST credentials, the ICE server
 * mapping for node-datachannel, the call ledger, the direct answer shape, and which relay answers
 * a consumer waits out while its worker re-binds.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  CONNECT_INTENT, candidateFamily, encodeConnectAnswer, encodeConnectCandidates, encodeConnectOffer, encodeConnectRetry, isConnectTask,
  parseConnectAnswer, parseConnectCandidates, parseConnectOffer, parseConnectRetry, parseIceServers, usableCandidates
} from '../../src/protocol/connect-intent.ts'
import { candidateTypeOf, toNativeIceServer } from '../../src/transport/ice/native-peer.ts'
import { iceServersFor, mintTurnCredential, validateIceServerConfig } from '../../relay/turn-credentials.ts'
import { CallLedger } from '../../worker/direct/call-ledger.ts'
import { answerFromWorkerResult, directTaskId } from '../../nat/connect/task-answer.ts'
import { isRebindAnswer } from '../../nat/connect/relay-path.ts'

const PEER = 'AAAAAAAAAAAAAAAAAAAAAA'

describe('connect intent payloads', () => {
  it('round-trips offer, answer, candidates and retry', () => {
    const offer = { peerId: PEER, sdp: 'v=0\r\n', candidates: ['candidate:1 1 UDP 1 1.2.3.4 5 typ host'], iceServers: [{ urls: 'turn:t:3478', username: '1:x', credential: 'c' }] }
    assert.deepEqual(parseConnectOffer(JSON.parse(JSON.stringify(encodeConnectOffer(offer)))), offer)
    const answer = { peerId: PEER, sdp: 'v=0\r\n', candidates: [] }
    assert.deepEqual(parseConnectAnswer({ task_id: 'x', status: 'completed', ...encodeConnectAnswer(answer) }, PEER), answer)
    assert.deepEqual(parseConnectCandidates(encodeConnectCandidates({ peerId: PEER, candidates: ['a=candidate:2 1 UDP 1 h 1 typ srflx'] })), { peerId: PEER, candidates: ['a=candidate:2 1 UDP 1 h 1 typ srflx'] })
    assert.deepEqual(parseConnectRetry(encodeConnectRetry({ peerId: PEER, callId: 'c1', task: { a: 1 } })), { peerId: PEER, callId: 'c1', task: { a: 1 } })
    assert.equal(parseConnectRetry(encodeConnectOffer(offer)), undefined)
    assert.ok(isConnectTask({ intent: CONNECT_INTENT }))
    assert.ok(!isConnectTask({ intent: 'urn:other' }))
  })

  it('keeps only remote candidates of a family the local side has', () => {
    const v4 = 'candidate:1 1 UDP 2114977791 192.168.1.2 50000 typ host'
    const v6 = 'a=candidate:2 1 UDP 2116026111 2a00:12:0:2::2 50001 typ host'
    const mdns = 'candidate:3 1 UDP 2116026111 4b1d.local 50002 typ host'
    assert.deepEqual([candidateFamily(v4), candidateFamily(v6), candidateFamily(mdns), candidateFamily('candidate:x')], [4, 6, undefined, undefined])
    assert.deepEqual(usableCandidates([v4, v6, mdns], ['candidate:9 1 UDP 1 11.0.1.10 4000 typ srflx raddr 0.0.0.0 rport 0']), [v4, mdns])
    assert.deepEqual(usableCandidates([v4, v6], [v6]), [v6])
    assert.deepEqual(usableCandidates([v4, v6], []), [v4, v6])
  })

  it('refuses malformed payloads with ERR_BAD_REQUEST', () => {
    const bad = (fn: () => unknown): void => { assert.throws(fn, { code: 'ERR_BAD_REQUEST' }) }
    bad(() => parseConnectOffer({ v: 2, peer_id: PEER, sdp: 'x' }))
    bad(() => parseConnectOffer({ v: 1, peer_id: 'short', sdp: 'x' }))
    bad(() => parseConnectOffer({ v: 1, peer_id: PEER, sdp: '' }))
    bad(() => parseConnectOffer({ v: 1, peer_id: PEER, sdp: 'x'.repeat(20_000) }))
    bad(() => parseConnectOffer({ v: 1, peer_id: PEER, sdp: 'x', candidates: ['not a candidate'] }))
    bad(() => parseConnectOffer({ v: 1, peer_id: PEER, sdp: 'x', op: 'dance' }))
    bad(() => parseIceServers([{ urls: 'http://x' }]))
    bad(() => parseConnectAnswer({ error: 'unknown intent' }, PEER))
    bad(() => parseConnectAnswer(encodeConnectAnswer({ peerId: 'BBBBBBBBBBBBBBBBBBBBBB', sdp: 'x', candidates: [] }), PEER))
  })
})

describe('TURN REST credentials (coturn use-auth-secret)', () => {
  it('mints expiry:id and base64(HMAC-SHA1(secret, username))', () => {
    const c = mintTurnCredential('s3cret', 'w1', 600, 1_000_000)
    assert.equal(c.username, '1000600:w1')
    assert.equal(c.credential, createHmac('sha1', 's3cret').update('1000600:w1').digest('base64'))
    assert.equal(c.expiresAt, 1_000_600)
  })

  it('hands STUN first, then every TURN URL with one credential; validates the configuration', () => {
    const { iceServers, expiresAt } = iceServersFor({ turnUrls: ['turn:a:3478', 'turn:b:3478'], turnSecret: 's', stunUrls: ['stun:a:3478'], ttlSeconds: 60 }, 'w', 10)
    assert.equal(expiresAt, 70)
    assert.deepEqual(iceServers.map(s => s.urls), ['stun:a:3478', 'turn:a:3478', 'turn:b:3478'])
    assert.equal(iceServers[1]?.username, '70:w')
    assert.throws(() => { validateIceServerConfig({ turnUrls: ['turn:a'], turnSecret: undefined }) }, { code: 'ERR_INVALID_CONFIG' })
    assert.throws(() => { validateIceServerConfig({ turnUrls: ['http://a'], turnSecret: 's' }) }, { code: 'ERR_INVALID_CONFIG' })
    assert.throws(() => { validateIceServerConfig({ turnUrls: [], turnSecret: 's', ttlSeconds: 601 }) }, { code: 'ERR_INVALID_CONFIG' })
  })
})

describe('node-datachannel mapping', () => {
  it('maps UDP STUN/TURN URLs and skips what libjuice cannot reach', () => {
    assert.deepEqual(toNativeIceServer({ urls: 'stun:11.0.0.1:5478' }), { hostname: '11.0.0.1', port: 5478 })
    assert.deepEqual(toNativeIceServer({ urls: 'turn:[2001:db8::1]:3478?transport=udp', username: 'u', credential: 'p' }), { hostname: '2001:db8::1', port: 3478, username: 'u', password: 'p', relayType: 'TurnUdp' })
    assert.equal(toNativeIceServer({ urls: 'turn:t:443?transport=tcp', username: 'u', credential: 'p' }), undefined)
    assert.equal(toNativeIceServer({ urls: 'turns:t:443', username: 'u', credential: 'p' }), undefined)
    assert.equal(toNativeIceServer({ urls: 'turn:t:3478' }), undefined)
    assert.equal(candidateTypeOf('candidate:1 1 UDP 1 11.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0'), 'relay')
  })
})

describe('call ledger', () => {
  it('runs a key once: a retry joins the running task and later gets the recorded outcome', async () => {
    const ledger = new CallLedger()
    let runs = 0
    let finish: (v: unknown) => void = () => {}
    const task = async (): Promise<unknown> => { runs++; return await new Promise(resolve => { finish = resolve }) }
    const first = ledger.run('p/c1', task)
    const retry = ledger.run('p/c1', task)
    finish({ result: 1 })
    assert.deepEqual(await first, { result: 1 })
    assert.deepEqual(await retry, { result: 1 })
    assert.deepEqual(await ledger.run('p/c1', task), { result: 1 })
    assert.equal(runs, 1)
    await assert.rejects(ledger.run('p/c2', async () => await Promise.reject(new Error('boom'))), /boom/)
    await assert.rejects(ledger.run('p/c2', task), /boom/)
  })

  it('drops finished entries beyond its bound, never running ones', async () => {
    const ledger = new CallLedger(60_000, 2)
    await ledger.run('a', async () => await Promise.resolve(1))
    await ledger.run('b', async () => await Promise.resolve(2))
    await ledger.run('c', async () => await Promise.resolve(3))
    assert.ok(ledger.size <= 2)
  })
})

describe('direct answers look like relay answers', () => {
  it('merges the result under task_id/status, and maps worker failures to 500', () => {
    const ok = answerFromWorkerResult('t1', Buffer.from('{"result":{"x":1}}'))
    assert.equal(ok.status, 200)
    assert.deepEqual(JSON.parse(ok.body.toString()), { task_id: 't1', status: 'completed', result: { x: 1 } })
    const failed = answerFromWorkerResult('t1', Buffer.from('{"error":"nope"}'))
    assert.equal(failed.status, 500)
    assert.deepEqual(JSON.parse(failed.body.toString()), { task_id: 't1', status: 'error', error: { message: 'nope' } })
    assert.equal(answerFromWorkerResult('t1', Buffer.from('[1]')).status, 500)
    assert.equal(answerFromWorkerResult('t1', Buffer.from('{"result":')).status, 500)
  })

  it('reads a task\'s task_id by a scan; bodies that are not one object and connect tasks stay on the relay', () => {
    const id = (raw: string): string | undefined => directTaskId(Buffer.from(raw))
    assert.equal(id('{"task_id":"a\\"b","payload":{"task_id":"inner"}}'), 'a"b')
    assert.equal(id('{"payload":1}'), '')
    assert.equal(id('[1]'), undefined)
    assert.equal(id('{"task_id":'), undefined)
    assert.equal(id(JSON.stringify({ task_id: 'c', intent: CONNECT_INTENT, payload: {} })), undefined)
    assert.equal(id('{"task_id":"t","intent":"urn:other"}'), 't')
  })

  it('splices a success without parsing it, and keeps what a failing worker said (like the relay)', () => {
    const body = (raw: string): unknown => JSON.parse(answerFromWorkerResult('t"1', Buffer.from(raw)).body.toString())
    assert.equal(answerFromWorkerResult('t1', Buffer.from(' {"result":{"x":"é"}} ')).body.toString(), '{"task_id":"t1","status":"completed","result":{"x":"é"}} ')
    assert.deepEqual(body('{}'), { task_id: 't"1', status: 'completed' })
    assert.deepEqual(body('{"error":null,"n":1}'), { task_id: 't"1', status: 'completed', error: null, n: 1 })
    assert.deepEqual(body('{"result":1,"status":"partial"}'), { task_id: 't"1', status: 'partial', result: 1 })
    const failed = answerFromWorkerResult('t1', Buffer.from('{"error":{"code":7},"hint":"h","task_id":"x"}'))
    assert.equal(failed.status, 500)
    assert.deepEqual(JSON.parse(failed.body.toString()), { task_id: 't1', status: 'error', error: { code: 7, message: '{"code":7}' }, hint: 'h' })
  })
})

describe('relay answers a consumer waits out while its worker re-binds', () => {
  const answer = (status: number, body: unknown): { status: number, body: Buffer } => ({ status, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) })
  const closed = answer(502, { error: { code: 'IICP-E031', message: 'relay session forward failed: worker session closed' } })
  const unbound = answer(404, { error: { code: 'IICP-E030', message: 'no alive relay session' } })

  it('404 IICP-E030 (the task never reached a worker) for every task', () => {
    assert.equal(isRebindAnswer(unbound, false), true)
    assert.equal(isRebindAnswer(unbound, true), true)
  })

  it('502 IICP-E031 (the CALL may have run) only for a ledger retry, which the worker runs at most once', () => {
    assert.equal(isRebindAnswer(closed, false), false)
    assert.equal(isRebindAnswer(closed, true), true)
  })

  it('nothing else: worker answers, capacity, other codes, garbage', () => {
    for (const a of [
      answer(200, { task_id: 't', status: 'completed' }),
      answer(500, { task_id: 't', status: 'error', error: { message: 'IICP-E031' } }),
      answer(429, { error: { code: 'IICP-E021', message: 'capacity_exceeded' } }),
      answer(404, { error: { code: 'IICP-E031' } }),
      answer(502, { error: { code: 'IICP-E030' } }),
      answer(502, 'not json'),
      answer(404, 'null')
    ]) assert.equal(isRebindAnswer(a, true), false, `${a.status} ${a.body.toString()}`)
  })
})
