import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { RemoteInfo, Socket } from 'node:dgram'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import {
  AttributeType, createStunServer, decodeAddress, decodeErrorCode, decodeMessage, encodeMessage, getAttribute,
  newTransactionId, stunBinding, type DecodedStunMessage, type StunServer, type StunServerInfo, type TransportAddress
} from '../../nat/stun/index.ts'
import { closeUdpSocket, openUdpSocket } from '../../nat/stun/udp.ts'
import { assertNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'
import { disposeAfter } from '../helpers/dispose.ts'

/** A client socket on `address` that collects what it receives. */
async function clientSocket (address = '127.0.0.1'): Promise<{ socket: Socket, next: () => Promise<{ msg: Buffer, rinfo: RemoteInfo }> }> {
  const socket = await openUdpSocket({ family: address.includes(':') ? 6 : 4, address, onError: () => {} })
  const queue: Array<{ msg: Buffer, rinfo: RemoteInfo }> = []
  const waiters: Array<(v: { msg: Buffer, rinfo: RemoteInfo }) => void> = []
  socket.on('message', (msg, rinfo) => {
    const waiter = waiters.shift()
    if (waiter !== undefined) waiter({ msg, rinfo })
    else queue.push({ msg, rinfo })
  })
  const next = async (): Promise<{ msg: Buffer, rinfo: RemoteInfo }> => {
    const queued = queue.shift()
    if (queued !== undefined) return queued
    return await new Promise(resolve => { waiters.push(resolve) })
  }
  return { socket, next }
}

async function sendTo (socket: Socket, message: Buffer, to: TransportAddress): Promise<void> {
  await new Promise<void>((resolve, reject) => { socket.send(message, to.port, to.address, err => { if (err != null) reject(err); else resolve() }) })
}

function errorCodeOf (msg: DecodedStunMessage): number | undefined {
  const value = getAttribute(msg, AttributeType.ErrorCode)
  return value === undefined ? undefined : decodeErrorCode(value).code
}

describe('STUN server', () => {
  let baseline: Record<string, number>
  let server: StunServer
  let info: StunServerInfo
  let primary: TransportAddress
  let alternate: TransportAddress
  before(async () => {
    baseline = handleCounts()
    server = createStunServer({ primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.3', port: 0 }, software: 'test-server' })
    info = await server.listen()
    primary = info.primary
    alternate = info.alternate as TransportAddress
  })
  after(async () => {
    await server.close()
    await assertNoLeakedHandles(baseline)
  })

  it('binds four sockets (A1,P1) (A1,P2) (A2,P1) (A2,P2) with picked ports', () => {
    assert.equal(info.rfc5780, true)
    assert.equal(primary.address, '127.0.0.2')
    assert.equal(alternate.address, '127.0.0.3')
    assert.notEqual(primary.port, alternate.port)
    const sockets = info.sockets.map(s => `${s.address}:${s.port}`).sort()
    const expected = [`127.0.0.2:${primary.port}`, `127.0.0.2:${alternate.port}`, `127.0.0.3:${primary.port}`, `127.0.0.3:${alternate.port}`].sort()
    assert.deepEqual(sockets, expected)
    assert.deepEqual(server.info, info)
  })

  it('answers a Binding request with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE, FINGERPRINT', async () => {
    const result = await stunBinding({ server: primary, localAddress: '127.0.0.1' })
    assert.deepEqual(result.mapped, { family: 4, address: '127.0.0.1', port: result.local.port })
    assert.deepEqual(decodeAddress(getAttribute(result.response, AttributeType.MappedAddress) ?? Buffer.alloc(0)), result.mapped)
    assert.equal(result.algSuspected, false)
    assert.deepEqual(result.responseOrigin, { family: 4, ...primary })
    assert.deepEqual(result.otherAddress, { family: 4, ...alternate })
    assert.equal(result.software, 'test-server')
    assert.equal(result.response.hasFingerprint, true)
    assert.deepEqual(result.source, primary)
  })

  it('OTHER-ADDRESS is relative to the socket the request reached', async () => {
    const result = await stunBinding({ server: { address: alternate.address, port: primary.port } })
    assert.deepEqual(result.otherAddress, { family: 4, address: primary.address, port: alternate.port })
    assert.deepEqual(result.responseOrigin, { family: 4, address: alternate.address, port: primary.port })
  })

  it('honours CHANGE-REQUEST by answering from the matching socket', async () => {
    const cases: Array<[{ changeIp: boolean, changePort: boolean }, TransportAddress]> = [
      [{ changeIp: true, changePort: true }, alternate],
      [{ changeIp: false, changePort: true }, { address: primary.address, port: alternate.port }],
      [{ changeIp: true, changePort: false }, { address: alternate.address, port: primary.port }],
      [{ changeIp: false, changePort: false }, primary]
    ]
    for (const [changeRequest, from] of cases) {
      const result = await stunBinding({ server: primary, changeRequest, acceptFrom: 'any' })
      assert.deepEqual(result.source, from, JSON.stringify(changeRequest))
      assert.deepEqual(result.responseOrigin, { family: 4, ...from })
    }
  })

  it('sends the answer to RESPONSE-PORT and echoes PADDING', async () => {
    const a = await clientSocket()
    const b = await clientSocket()
    try {
      const portB = b.socket.address().port
      const txid = newTransactionId()
      const request = encodeMessage({ class: 'request', transactionId: txid, attributes: [
        { type: AttributeType.ResponsePort, value: Buffer.from([portB >> 8, portB & 0xff, 0, 0]) },
        { type: AttributeType.Padding, value: Buffer.alloc(100) }
      ] })
      await sendTo(a.socket, request, primary)
      const { msg } = await b.next()
      const response = decodeMessage(msg)
      assert.deepEqual(response.transactionId, txid)
      assert.equal(getAttribute(response, AttributeType.Padding)?.length, 100)
    } finally {
      await closeUdpSocket(a.socket)
      await closeUdpSocket(b.socket)
    }
  })

  it('answers 420 with UNKNOWN-ATTRIBUTES for unknown comprehension-required attributes, ignores optional ones', async () => {
    await assert.rejects(stunBinding({ server: primary, attributes: [{ type: 0x0024, value: Buffer.alloc(4) }, { type: 0x0030, value: Buffer.alloc(0) }] }), (err: unknown) => {
      assert.ok(isToolkitError(err, ErrorCode.StunErrorResponse))
      assert.equal(err.details?.code, 420)
      assert.deepEqual(err.details?.unknownAttributes, [0x0024, 0x0030])
      return true
    })
    const ok = await stunBinding({ server: primary, attributes: [{ type: 0x8029, value: Buffer.alloc(8) }] })
    assert.equal(ok.mapped.address, '127.0.0.1')
  })

  it('answers 400 to a malformed CHANGE-REQUEST and to RESPONSE-PORT 0', async () => {
    for (const attributes of [
      [{ type: AttributeType.ChangeRequest, value: Buffer.alloc(8) }],
      [{ type: AttributeType.ResponsePort, value: Buffer.alloc(4) }]
    ]) {
      await assert.rejects(stunBinding({ server: primary, attributes }), (err: unknown) => isToolkitError(err, ErrorCode.StunErrorResponse) && err.details?.code === 400)
    }
  })

  it('ignores non-STUN datagrams, indications, responses and bad FINGERPRINTs', async () => {
    const c = await clientSocket()
    try {
      const before = server.stats()
      const txid = newTransactionId()
      const badFingerprint = encodeMessage({ class: 'request', transactionId: newTransactionId() })
      badFingerprint[badFingerprint.length - 1] = (badFingerprint.at(-1) ?? 0) ^ 1
      await sendTo(c.socket, Buffer.from('not stun at all, not at all'), primary)
      await sendTo(c.socket, encodeMessage({ class: 'indication', transactionId: newTransactionId() }), primary)
      await sendTo(c.socket, encodeMessage({ class: 'success', transactionId: newTransactionId() }), primary)
      await sendTo(c.socket, badFingerprint, primary)
      await sendTo(c.socket, encodeMessage({ class: 'request', transactionId: txid }), primary)
      const first = decodeMessage((await c.next()).msg)
      assert.deepEqual(first.transactionId, txid, 'the only answer is to the valid request')
      const after = server.stats()
      assert.equal(after.ignored - before.ignored, 4)
      assert.equal(after.answered - before.answered, 1)
    } finally {
      await closeUdpSocket(c.socket)
    }
  })

  it('answers a request on an unknown method with 400', async () => {
    const c = await clientSocket()
    try {
      await sendTo(c.socket, encodeMessage({ method: 0x003, class: 'request', transactionId: newTransactionId() }), primary)
      const response = decodeMessage((await c.next()).msg)
      assert.equal(response.class, 'error')
      assert.equal(response.method, 0x003)
      assert.equal(errorCodeOf(response), 400)
    } finally {
      await closeUdpSocket(c.socket)
    }
  })
})

describe('STUN server without an alternate address', () => {
  it('answers without OTHER-ADDRESS and rejects CHANGE-REQUEST with 420', async t => {
    const server = disposeAfter(t, createStunServer({ primary: { address: '127.0.0.2', port: 0 }, software: '' }))
    const info = await server.listen()
    assert.equal(info.rfc5780, false)
    assert.equal(info.sockets.length, 1)
    const result = await stunBinding({ server: info.primary })
    assert.equal(result.otherAddress, undefined)
    assert.equal(result.software, undefined)
    await assert.rejects(stunBinding({ server: info.primary, changeRequest: { changeIp: false, changePort: true } }), (err: unknown) => {
      assert.ok(isToolkitError(err, ErrorCode.StunErrorResponse))
      assert.equal(err.details?.code, 420)
      assert.deepEqual(err.details?.unknownAttributes, [AttributeType.ChangeRequest])
      return true
    })
  })

  it('works over IPv6 (::1)', async t => {
    const server = disposeAfter(t, createStunServer({ primary: { address: '::1', port: 0 } }))
    const info = await server.listen()
    const result = await stunBinding({ server: info.primary })
    assert.deepEqual(result.mapped, { family: 6, address: '::1', port: result.local.port })
    assert.deepEqual(result.responseOrigin, { family: 6, ...info.primary })
  })

  it('rate-limits per source IP with a token bucket', async t => {
    const server = disposeAfter(t, createStunServer({ primary: { address: '127.0.0.2', port: 0 }, rateLimit: { perSecond: 0.001, burst: 2 } }))
    const info = await server.listen()
    const noisy = await clientSocket('127.0.0.1')
    const marker = await clientSocket('127.0.0.5')
    try {
      for (let i = 0; i < 5; i++) await sendTo(noisy.socket, encodeMessage({ class: 'request', transactionId: newTransactionId() }), info.primary)
      await sendTo(marker.socket, encodeMessage({ class: 'request', transactionId: newTransactionId() }), info.primary)
      await marker.next()
      assert.deepEqual(server.stats(), { answered: 3, errors: 0, ignored: 0, rateLimited: 3 })
    } finally {
      await closeUdpSocket(noisy.socket)
      await closeUdpSocket(marker.socket)
    }
  })
})

describe('STUN server lifecycle', () => {
  it('close() is idempotent; listen() after close or twice rejects', async () => {
    const server = createStunServer({ primary: { address: '127.0.0.2', port: 0 } })
    await server.listen()
    await assert.rejects(server.listen(), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    await Promise.all([server.close(), server.close()])
    await server.close()
    await assert.rejects(server.listen(), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
  })

  it('validates its options', () => {
    const bad = [
      { primary: { address: 'localhost', port: 0 } },
      { primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '::1', port: 0 } },
      { primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.2', port: 0 } },
      { primary: { address: '127.0.0.2', port: 4000 }, alternate: { address: '127.0.0.3', port: 4000 } },
      { primary: { address: '127.0.0.2', port: 70000 } }
    ]
    for (const options of bad) assert.throws(() => createStunServer(options), (err: unknown) => isToolkitError(err), JSON.stringify(options))
  })

  it('fails when a fixed port is taken on the alternate IP, and leaves nothing bound', async () => {
    const blocker = await openUdpSocket({ family: 4, address: '127.0.0.3', onError: () => {} })
    try {
      const port = blocker.address().port
      const server = createStunServer({ primary: { address: '127.0.0.2', port }, alternate: { address: '127.0.0.3', port: 0 } })
      await assert.rejects(server.listen(), (err: unknown) => isToolkitError(err, ErrorCode.InvalidAddress) && /EADDRINUSE|in use/i.test(String((err.cause as Error | undefined)?.message)))
      await server.close()
      const probe = await openUdpSocket({ family: 4, address: '127.0.0.2', port, onError: () => {} })
      await closeUdpSocket(probe)
    } finally {
      await closeUdpSocket(blocker)
    }
  })
})
