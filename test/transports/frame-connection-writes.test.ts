/**
 * How FrameConnection hands frames to a real loopback TCP socket: the first frame of an
 * event-loop turn is written at once (its parts in one writev), the frames after it in the same
 * turn leave together in one writev when the turn ends, and the bytes arrive in order. The
 * socket's `_write`/`_writev` are wrapped only to record what each system write call carried.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { FrameConnection } from '../../src/transport/frame-connection.ts'

type WriteCallback = (err?: Error | null) => void
interface RecordedSocket {
  _write: (chunk: Buffer, encoding: BufferEncoding, cb: WriteCallback) => void
  _writev: (chunks: Array<{ chunk: Buffer }>, cb: WriteCallback) => void
}

describe('FrameConnection writes', () => {
  let server: Server
  let conn: FrameConnection
  /** The chunks of each `_write` or `_writev` call on the sending socket, as text. */
  const writes: string[][] = []
  let received = ''
  let onReceived: (() => void) | undefined

  before(async () => {
    server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const accepted = once(server, 'connection') as Promise<[Socket]>
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
    await once(client, 'connect')
    const [peer] = await accepted
    peer.on('data', (chunk: Buffer) => {
      received += chunk.toString()
      onReceived?.()
    })
    const recorded = client as unknown as RecordedSocket
    const write = recorded._write.bind(client)
    const writev = recorded._writev.bind(client)
    recorded._write = (chunk, encoding, cb) => {
      writes.push([chunk.toString()])
      write(chunk, encoding, cb)
    }
    recorded._writev = (chunks, cb) => {
      writes.push(chunks.map(c => c.chunk.toString()))
      writev(chunks, cb)
    }
    conn = new FrameConnection(client, { onFrame: () => {}, onClose: () => {} })
  })

  after(async () => {
    conn.destroy()
    await new Promise(resolve => server.close(resolve))
  })

  /** Resolves once the peer has received `text` in total. */
  async function receivedAll (text: string): Promise<void> {
    if (received === text) return
    await new Promise<void>(resolve => {
      onReceived = () => { if (received.length >= text.length) resolve() }
    })
    onReceived = undefined
    assert.equal(received, text)
  }

  it('writes the first frame of a turn at once and the rest of the turn in one writev when it ends', async () => {
    conn.send(Buffer.from('a'))
    assert.deepEqual(writes, [['a']])
    conn.send(Buffer.from('b'))
    conn.send([Buffer.from('c1'), Buffer.from('c2')])
    assert.deepEqual(writes, [['a']], 'the later frames wait for the end of the turn')
    await receivedAll('abc1c2')
    assert.deepEqual(writes, [['a'], ['b', 'c1', 'c2']])
  })

  it('writes the parts of a turn\'s first frame in one writev, and starts over in the next turn', async () => {
    writes.length = 0
    received = ''
    conn.send([Buffer.from('head'), Buffer.from('body')])
    assert.deepEqual(writes, [['head', 'body']])
    conn.send(Buffer.from('next'))
    await receivedAll('headbodynext')
    conn.send(Buffer.from('later'))
    assert.deepEqual(writes, [['head', 'body'], ['next'], ['later']])
    await receivedAll('headbodynextlater')
  })
})
