/** The fleet link's wire: frames split anywhere decode whole; a frame altered, replayed or reordered fails its MAC. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import { LinkDecoder, LinkMac, LinkType, decodeCallBody, encodeCallHead, encodeLinkFrame, splitBatch, type LinkFrame } from '../../relay/fleet/link-wire.ts'
import { LinkSender } from '../../relay/fleet/link-sender.ts'

const challenge = Buffer.alloc(16, 1)
const nonce = Buffer.alloc(16, 2)

describe('fleet link wire', () => {
  it('decodes frames split at any byte boundary', () => {
    const a = encodeLinkFrame(LinkType.Call, 7, Buffer.from('hello'))
    const b = encodeLinkFrame(LinkType.Result, 8, Buffer.alloc(0))
    const bytes = Buffer.concat([a, b])
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new LinkDecoder()
      const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))]
      assert.deepEqual(frames.map(f => [f.type, f.id, f.body.toString()]), [[LinkType.Call, 7, 'hello'], [LinkType.Result, 8, '']])
    }
    assert.throws(() => new LinkDecoder().push(Buffer.from([0xff, 0xff, 0xff, 0xff])), { code: 'ERR_FLEET_LINK' })
  })

  it('a frame verifies once, in order, unaltered, and only under the same secret', () => {
    const caller = new LinkMac('secret-0123456789abcdef', 'f', challenge, nonce, true)
    const owner = new LinkMac('secret-0123456789abcdef', 'f', challenge, nonce, false)
    const decode = (buf: Buffer) => new LinkDecoder().push(buf)[0] as ReturnType<LinkDecoder['push']>[number]
    const f1 = caller.frame(LinkType.Call, 1, Buffer.from('one'))
    const f2 = caller.frame(LinkType.Call, 2, Buffer.from('two'))
    assert.equal(owner.check(decode(f1)), true)
    assert.equal(owner.check(decode(f1)), false, 'a replayed frame fails')
    const fresh = new LinkMac('secret-0123456789abcdef', 'f', challenge, nonce, false)
    assert.equal(fresh.check(decode(f2)), false, 'a frame out of order fails')
    const tampered = Buffer.from(f1)
    tampered[tampered.length - 1] = 0x21
    assert.equal(new LinkMac('secret-0123456789abcdef', 'f', challenge, nonce, false).check(decode(tampered)), false, 'an altered body fails')
    const other = new LinkMac('another-secret-0123456', 'f', challenge, nonce, false)
    assert.equal(other.check(decode(f1)), false, 'another secret fails')
    const back = owner.frame(LinkType.Result, 1, Buffer.from('r'))
    assert.equal(new LinkMac('secret-0123456789abcdef', 'f', challenge, nonce, false).check(decode(back)), false, 'a frame is bound to its direction')
  })

  it('a CALL body carries the metadata and the task bytes', () => {
    const body = Buffer.concat([encodeCallHead({ w: 'w1', k: 'stream', to: 500, s: 'sess', ti: 'task' }), Buffer.from('{"a":1}')])
    const call = decodeCallBody(body)
    assert.deepEqual(call?.meta, { w: 'w1', k: 'stream', to: 500, s: 'sess', ti: 'task' })
    assert.equal(call?.task.toString(), '{"a":1}')
    assert.equal(decodeCallBody(Buffer.from([0, 5, 1])), undefined)
    assert.equal(decodeCallBody(encodeCallHead({ w: '', k: 'call', to: 1 })), undefined)
  })
})

describe('fleet link MAC construction', () => {
  it('is HMAC-SHA256 (RFC 2104) under the per-connection key', async () => {
    const { createHmac } = await import('node:crypto')
    const secret = 'secret-0123456789abcdef'
    const key = createHmac('sha256', secret).update('key\nf\n').update(challenge).update(nonce).digest()
    const frame = new LinkMac(secret, 'f', challenge, nonce, true).frame(LinkType.Call, 9, Buffer.from('body'))
    const prefix = Buffer.alloc(14)
    prefix[0] = 1
    prefix[1] = LinkType.Call
    prefix.writeBigUInt64BE(0n, 2)
    prefix.writeUInt32BE(9, 10)
    const expected = createHmac('sha256', key).update(prefix).update('body').digest().subarray(0, 16)
    assert.deepEqual(frame.subarray(9, 25), expected)
  })
})

/** A connected loopback socket pair: `a` writes, everything `b` receives is collected. */
/** Two connected loopback sockets; `paused`: the receiving side reads nothing until `received()`. */
async function socketPair (paused = false): Promise<{ a: Socket, received: () => Promise<Buffer>, close: () => Promise<void> }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const accepted = once(server, 'connection')
  const a = connect(port, '127.0.0.1')
  await once(a, 'connect')
  const [b] = await accepted as [Socket]
  const chunks: Buffer[] = []
  const read = (): void => { b.on('data', (c: Buffer) => chunks.push(c)) }
  if (!paused) read()
  return {
    a,
    received: async () => {
      if (paused) read()
      a.end()
      await once(b, 'end')
      return Buffer.concat(chunks)
    },
    close: async () => {
      a.destroy()
      b.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('fleet link batches', () => {
  const secret = 'secret-0123456789abcdef'

  it('the frames of one turn leave as one BATCH under one MAC; a large body goes alone, in order', async () => {
    const pair = await socketPair()
    try {
      const sender = new LinkSender(pair.a, new LinkMac(secret, 'f', challenge, nonce, true), true)
      sender.send(LinkType.Call, 1, Buffer.from('one'))
      sender.send(LinkType.Call, 2, Buffer.from('two'))
      sender.send(LinkType.Cancel, 1, Buffer.alloc(0))
      sender.send(LinkType.Call, 3, Buffer.alloc(100 * 1024, 7))
      sender.send(LinkType.Call, 4, Buffer.from('four'))
      await new Promise(resolve => setImmediate(resolve))
      const wire = new LinkDecoder().push(await pair.received())
      assert.deepEqual(wire.map(f => [f.type, f.id]), [[LinkType.Batch, 3], [LinkType.Call, 3], [LinkType.Call, 4]])
      const owner = new LinkMac(secret, 'f', challenge, nonce, false)
      const opened = wire.flatMap(f => owner.open(f) ?? assert.fail('a frame failed its MAC'))
      assert.deepEqual(opened.map(f => [f.type, f.id, f.body.length]), [[LinkType.Call, 1, 3], [LinkType.Call, 2, 3], [LinkType.Cancel, 1, 0], [LinkType.Call, 3, 100 * 1024], [LinkType.Call, 4, 4]])
      assert.equal(opened[1]?.body.toString(), 'two')
    } finally {
      await pair.close()
    }
  })

  it('batches of many turns arrive intact while earlier ones are still being written (reused batch buffer)', async () => {
    const pair = await socketPair(true)
    try {
      const sender = new LinkSender(pair.a, new LinkMac(secret, 'f', challenge, nonce, true), true)
      const turns = 200
      // 3 × 20 KiB per turn fits the reused buffer; 12 MiB in all outgrows the socket buffers, so
      // later turns are built while earlier writes are still queued.
      for (let turn = 0; turn < turns; turn++) {
        for (let k = 0; k < 3; k++) sender.send(LinkType.Call, turn * 3 + k, Buffer.alloc(20 * 1024, (turn + k) % 256), Buffer.from(`h${turn}`))
        await new Promise(resolve => setImmediate(resolve))
      }
      assert.ok(pair.a.writableLength > 0, 'the receiver is not reading, so writes are queued')
      const owner = new LinkMac(secret, 'f', challenge, nonce, false)
      const wire = new LinkDecoder().push(await pair.received())
      assert.equal(wire.length, turns)
      const opened = wire.flatMap(f => owner.open(f) ?? assert.fail('a batch failed its MAC'))
      assert.equal(opened.length, turns * 3)
      opened.forEach((f, i) => {
        const turn = Math.floor(i / 3)
        const head = `h${turn}`
        assert.equal(f.id, i)
        assert.equal(f.body.subarray(0, head.length).toString(), head)
        assert.ok(f.body.subarray(head.length).equals(Buffer.alloc(20 * 1024, (turn + (i % 3)) % 256)), `frame ${i} body`)
      })
    } finally {
      await pair.close()
    }
  })

  it('without the peer offering batches, the frames are signed one by one', async () => {
    const pair = await socketPair()
    try {
      const sender = new LinkSender(pair.a, new LinkMac(secret, 'f', challenge, nonce, true), false)
      sender.send(LinkType.Call, 1, Buffer.from('one'))
      sender.send(LinkType.Call, 2, Buffer.from('two'))
      await new Promise(resolve => setImmediate(resolve))
      const wire = new LinkDecoder().push(await pair.received())
      const owner = new LinkMac(secret, 'f', challenge, nonce, false)
      assert.deepEqual(wire.map(f => [f.type, f.id, owner.check(f)]), [[LinkType.Call, 1, true], [LinkType.Call, 2, true]])
    } finally {
      await pair.close()
    }
  })

  it('a batch that is altered, miscounted, nested or overrunning is refused', () => {
    const inner = Buffer.concat([encodeLinkFrame(LinkType.Call, 1, Buffer.from('a')), encodeLinkFrame(LinkType.Call, 2, Buffer.from('b'))])
    const decode = (buf: Buffer): LinkFrame => new LinkDecoder().push(buf)[0] as LinkFrame
    const signed = new LinkMac(secret, 'f', challenge, nonce, true).frame(LinkType.Batch, 2, inner)
    assert.equal(new LinkMac(secret, 'f', challenge, nonce, false).open(decode(signed))?.length, 2)
    const tampered = Buffer.from(signed)
    tampered[tampered.length - 1] = 0x63
    assert.equal(new LinkMac(secret, 'f', challenge, nonce, false).open(decode(tampered)), undefined)
    assert.equal(splitBatch(inner, 3), undefined, 'count differs')
    assert.equal(splitBatch(inner.subarray(0, inner.length - 1), 2), undefined, 'overruns')
    assert.equal(splitBatch(encodeLinkFrame(LinkType.Batch, 1, inner), 1), undefined, 'nested')
    assert.equal(splitBatch(encodeLinkFrame(LinkType.Auth, 0, Buffer.from('{}')), 1), undefined, 'handshake frame inside')
  })
})
