/**
 * Connection limits of the HTTP front: a cap on open connections, and deadlines for a
 * client's headers and whole request (slow HTTP clients cannot hold connections forever).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { http, startRelay } from '../helpers/relay-harness.ts'

async function open (port: number): Promise<{ socket: Socket, closed: Promise<string> }> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let data = ''
  socket.setEncoding('utf8').on('data', (d: string) => { data += d })
  const closed = once(socket, 'close').then(() => data)
  await once(socket, 'connect')
  return { socket, closed }
}

describe('HTTP front limits', () => {
  it('drops connections beyond maxHttpConnections at once and serves again when one closes', async () => {
    const h = await startRelay({ maxHttpConnections: 2 })
    const sockets: Socket[] = []
    try {
      const a = await open(h.httpPort)
      const b = await open(h.httpPort)
      sockets.push(a.socket, b.socket)
      // Make sure both are accepted (a request answered on each) before the third arrives.
      a.socket.write('GET /iicp/health HTTP/1.1\r\nhost: x\r\n\r\n')
      b.socket.write('GET /iicp/health HTTP/1.1\r\nhost: x\r\n\r\n')
      await Promise.all([once(a.socket, 'data'), once(b.socket, 'data')])
      const c = await open(h.httpPort)
      sockets.push(c.socket)
      assert.equal(await c.closed, '', 'third connection closed with no answer')
      a.socket.destroy()
      await a.closed
      const ok = await http(h.httpPort, '/iicp/health', { method: 'GET' })
      assert.equal(ok.status, 200)
    } finally {
      for (const s of sockets) s.destroy()
      await h.close()
    }
  })

  it('closes a client that does not finish its headers within httpHeadersTimeoutMs with 408', async () => {
    const h = await startRelay({ httpHeadersTimeoutMs: 200 })
    try {
      const c = await open(h.httpPort)
      c.socket.write('POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nhost: x\r\n')
      const answer = await c.closed
      assert.match(answer, /^HTTP\/1\.1 408/)
    } finally {
      await h.close()
    }
  })

  it('closes a client that does not finish its body within httpRequestTimeoutMs with 408', async () => {
    const h = await startRelay({ httpRequestTimeoutMs: 300 })
    try {
      await h.worker('w1')
      const c = await open(h.httpPort)
      c.socket.write('POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"task')
      const answer = await c.closed
      assert.match(answer, /^HTTP\/1\.1 408/)
    } finally {
      await h.close()
    }
  })

  it('the request deadline covers receiving the request, not the worker\'s answer', async () => {
    const h = await startRelay({ httpRequestTimeoutMs: 200, httpHeadersTimeoutMs: 200 })
    try {
      const p = await h.worker('w1')
      p.serve(async () => { await new Promise(resolve => setTimeout(resolve, 600)); return { result: 'slow' } })
      const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 't', intent: 'urn:x', payload: {} } })
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 't', status: 'completed', result: 'slow' })
    } finally {
      await h.close()
    }
  })
})
