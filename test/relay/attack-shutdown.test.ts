/**
 * Issue 7, defect 6 (shutdown edges): while the relay closes, a keep-alive caller's next
 * request, a call for a session that is going away, and an upload still in progress each get
 * an HTTP answer (503 with Retry-After), never a reset or a 404.
 */
import assert from 'node:assert/strict'
import { Agent, request, type IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { startRelay } from '../helpers/relay-harness.ts'

interface Answer { status: number, retryAfter: string | undefined, body: string }

/** Sends a request with `agent`; resolves with the answer, or rejects with the socket error. */
async function send (port: number, agent: Agent, path: string, body?: string, keepOpen = false): Promise<Answer> {
  return await new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: body === undefined ? 'GET' : 'POST', headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(keepOpen ? body.length + 1000 : body.length) } }, (res: IncomingMessage) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    // keepOpen: announce more bytes than sent, so the upload is still in progress.
    if (keepOpen) req.write(body)
    else req.end(body)
  })
}

describe('attack: shutdown edges (issue 7.6)', () => {
  it('during the grace a keep-alive caller gets 503 with Retry-After, and an upload in progress gets an answer', async () => {
    const h = await startRelay()
    const agent = new Agent({ keepAlive: true, maxSockets: 4 })
    try {
      await h.worker('w1')
      // A keep-alive connection, idle in the agent's pool.
      assert.equal((await send(h.httpPort, agent, '/iicp/health')).status, 200)
      // An upload that has not finished: it holds the relay's grace open.
      const upload = send(h.httpPort, new Agent(), '/v1/relay-for/w1/v1/task', '{"task_id":"t1","payload":"', true)
      // A round trip sent after the upload's headers: once it is answered the relay has read them.
      assert.equal((await send(h.httpPort, new Agent(), '/iicp/health')).status, 200)
      const closing = h.relay.close()
      const during = await send(h.httpPort, agent, '/v1/relay-for/w1/v1/task', '{"task_id":"t2"}')
      assert.equal(during.status, 503, during.body)
      assert.equal(during.retryAfter, '5')
      assert.match(during.body, /relay_shutting_down/)
      const cut = await upload
      assert.equal(cut.status, 503, cut.body)
      await closing
    } finally {
      agent.destroy()
      await h.close()
    }
  })
})
