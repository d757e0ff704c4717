/**
 * The shared HTTP helpers in src/http/ on real loopback sockets: bounded body reading with a
 * signal, JSON answers, and the bounded client request (size cap, abort, transport errors).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, createServer, request, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { sendJson } from '../../src/http/json-response.ts'
import { declaredLength, parseJsonObject, readBody } from '../../src/http/read-body.ts'
import { httpRequest } from '../../src/http/request.ts'

async function serve (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string, close: () => Promise<void> }> {
  const server: Server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      closing ??= new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
      await closing
    }
  }
}

/** Sends a chunked POST (no content-length) and returns the status, or 0 when the connection dropped. */
async function postChunks (url: string, chunks: string[], keepOpen = false): Promise<number> {
  return await new Promise<number>(resolve => {
    const req = request(url, { method: 'POST', agent: false }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', () => { resolve(0) })
    for (const c of chunks) req.write(c)
    if (!keepOpen) req.end()
  })
}

describe('src/http', () => {
  it('readBody caps a chunked body as it arrives, and parseJsonObject accepts only objects', async () => {
    const outcomes: string[] = []
    const srv = await serve((req, res) => {
      readBody(req, 8).then(body => {
        outcomes.push(`ok ${JSON.stringify(parseJsonObject(body))}`)
        sendJson(res, 200, { ok: true })
      }, (err: unknown) => {
        outcomes.push(isToolkitError(err) ? err.code : 'other')
        sendJson(res, 413, { error: 'too large' }, { connection: 'close' })
      })
    })
    try {
      assert.equal(await postChunks(srv.url, ['{"a":', '1}']), 200)
      assert.equal(await postChunks(srv.url, ['{"a":"', 'xxxxxxxx"}']), 413)
      assert.deepEqual(outcomes, ['ok {"a":1}', ErrorCode.BodyTooLarge])
      assert.throws(() => parseJsonObject(Buffer.from('[1]')), (err: unknown) => isToolkitError(err, ErrorCode.BadRequest))
      assert.throws(() => parseJsonObject(Buffer.from('nope')), (err: unknown) => isToolkitError(err, ErrorCode.BadRequest))
    } finally {
      await srv.close()
    }
  })

  it('readBody takes a body that came with its headers at once, and one that comes later from the stream', async () => {
    const seen: Array<{ body: string, endedFirst: boolean, closed: Promise<void> }> = []
    let gotRequest: (() => void) | undefined
    const sockets = new Set<unknown>()
    const srv = await serve((req, res) => {
      sockets.add(req.socket)
      const closed = new Promise<void>(resolve => { req.once('close', resolve) })
      gotRequest?.()
      readBody(req, 1024, undefined, n => Buffer.alloc(n)).then(body => {
        seen.push({ body: body.toString(), endedFirst: req.readableEnded, closed })
        sendJson(res, 200, { ok: true })
      }, () => { res.destroy() })
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const post = async (write: (req: ClientRequest) => void | Promise<void>): Promise<number> => await new Promise<number>((resolve, reject) => {
      const req = request(srv.url, { method: 'POST', agent, headers: { 'content-length': 9 } }, res => { res.resume(); res.on('end', () => { resolve(res.statusCode ?? 0) }) })
      req.on('error', reject)
      Promise.resolve(write(req)).catch(reject)
    })
    try {
      // Three requests on one kept-alive connection, each body in the packet of its headers.
      for (let i = 0; i < 3; i++) assert.equal(await post(req => { req.end(`{"a":${100 + i}}`) }), 200)
      // Headers and half the body first, the rest once the server has the request.
      const got = new Promise<void>(resolve => { gotRequest = resolve })
      assert.equal(await post(async req => {
        req.flushHeaders()
        req.write('{"a":')
        await got
        req.end('999}')
      }), 200)
      assert.deepEqual(seen.map(s => s.body), ['{"a":100}', '{"a":101}', '{"a":102}', '{"a":999}'])
      // The first three were taken before the stream's 'end'; the late one through the stream.
      assert.deepEqual(seen.map(s => s.endedFirst), [false, false, false, true])
      // Every request still ends and closes as a read one does.
      await Promise.all(seen.map(async s => { await s.closed }))
      assert.equal(sockets.size, 1)
    } finally {
      agent.destroy()
      await srv.close()
    }
  })

  it('declaredLength reads content-length in any case from the raw headers, NaN for a chunked body', async () => {
    const seen: number[] = []
    const srv = await serve((req, res) => {
      seen.push(declaredLength(req))
      req.resume()
      req.on('end', () => { res.end() })
    })
    try {
      await new Promise<void>((resolve, reject) => {
        const r = request(srv.url, { method: 'POST', agent: false, headers: { 'Content-Length': '5' } }, res => { res.resume(); res.on('end', resolve) })
        r.on('error', reject)
        r.end('hello')
      })
      assert.equal(await postChunks(srv.url, ['a', 'b']), 200)
      assert.equal(seen[0], 5)
      assert.ok(Number.isNaN(seen[1]))
    } finally {
      await srv.close()
    }
  })

  it('readBody rejects with the signal\'s error when it fires mid-body', async () => {
    const ctrl = new AbortController()
    let result: Promise<unknown> | undefined
    let gotRequest: (() => void) | undefined
    const got = new Promise<void>(resolve => { gotRequest = resolve })
    const srv = await serve(req => {
      result = readBody(req, 1024, ctrl.signal).catch((err: unknown) => err)
      req.once('data', () => { ctrl.abort() })
      gotRequest?.()
    })
    try {
      const client = postChunks(srv.url, ['{"a":'], true)
      await got
      const err = await result
      assert.ok(isToolkitError(err, ErrorCode.Aborted), String(err))
      await srv.close()
      assert.equal(await client, 0)
    } finally {
      await srv.close()
    }
  })

  it('httpRequest caps the response, honours the signal and codes transport failures', async () => {
    const srv = await serve((req, res) => {
      if (req.url === '/big') sendJson(res, 200, { pad: 'x'.repeat(200) })
      else if (req.url === '/slow') res.flushHeaders()
      else sendJson(res, 201, { ok: true })
    })
    try {
      const ok = await httpRequest({ url: srv.url, method: 'POST', body: '{}' })
      assert.equal(ok.status, 201)
      assert.deepEqual(JSON.parse(ok.body.toString('utf8')), { ok: true })
      assert.equal(ok.remoteAddress, '127.0.0.1')
      await assert.rejects(httpRequest({ url: `${srv.url}big`, maxBodyBytes: 100 }), (err: unknown) => isToolkitError(err, ErrorCode.BodyTooLarge))
      const ctrl = new AbortController()
      const slow = httpRequest({ url: `${srv.url}slow`, signal: ctrl.signal })
      setTimeout(() => { ctrl.abort() }, 20)
      await assert.rejects(slow, (err: unknown) => isToolkitError(err, ErrorCode.Aborted))
      await assert.rejects(httpRequest({ url: 'ftp://127.0.0.1/' }), (err: unknown) => isToolkitError(err, ErrorCode.InvalidConfig))
    } finally {
      await srv.close()
    }
    await assert.rejects(httpRequest({ url: srv.url, errorCode: ErrorCode.Reflector }), (err: unknown) =>
      isToolkitError(err, ErrorCode.Reflector) && (err.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED')
  })
})
