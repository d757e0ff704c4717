/**
 * The task fast path's head parser (relay/fast-path/task-head.ts): what it takes, and that it
 * leaves every head outside its subset to node:http (undefined).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseTaskHead, MAX_TASK_HEAD_BYTES, MAX_TASK_HEAD_FIELDS } from '../../relay/fast-path/task-head.ts'

const LIMIT = 8 * 1024 * 1024
const head = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1')
const TASK = 'POST /v1/relay-for/w1/v1/task HTTP/1.1'

describe('parseTaskHead', () => {
  it('takes a task call: worker segment, content-length, connection, body start', () => {
    const bytes = head([TASK, 'Host: relay', 'Content-Type: application/json', 'content-length: 5'], '{"a":')
    assert.deepEqual(parseTaskHead(bytes, LIMIT), { workerSegment: 'w1', contentLength: 5, close: false, bodyStart: bytes.length - 5 })
    assert.equal(parseTaskHead(head([TASK, 'host: x', 'Content-Length:  7 ', 'Connection: keep-alive, Close']), LIMIT)?.close, true)
    assert.equal(parseTaskHead(head(['POST /v1/relay-for/w%2D1/v1/task HTTP/1.1', 'host: x', 'content-length: 0']), LIMIT)?.workerSegment, 'w%2D1')
  })

  const outside: Array<[string, Buffer]> = [
    ['another route', head(['POST /v1/relay HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['the health route', head(['GET /v1/relay-for/w1/iicp/health HTTP/1.1', 'host: x'])],
    ['another method', head(['PUT /v1/relay-for/w1/v1/task HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['HTTP/1.0', head(['POST /v1/relay-for/w1/v1/task HTTP/1.0', 'host: x', 'content-length: 2'])],
    ['a query', head(['POST /v1/relay-for/w1/v1/task?x=1 HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['a path with more segments', head(['POST /v1/relay-for/a/b/v1/task HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['an empty worker segment', head(['POST /v1/relay-for//v1/task HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['two spaces in the request line', head(['POST  /v1/relay-for/w1/v1/task HTTP/1.1', 'host: x', 'content-length: 2'])],
    ['a head not yet complete', Buffer.from(`${TASK}\r\nhost: x\r\ncontent-length: 2\r\n`)],
    ['no Host', head([TASK, 'content-length: 2'])],
    ['two Hosts', head([TASK, 'host: x', 'Host: y', 'content-length: 2'])],
    ['no Content-Length', head([TASK, 'host: x'])],
    ['two Content-Lengths, even equal', head([TASK, 'host: x', 'content-length: 2', 'Content-Length: 2'])],
    ['a signed Content-Length', head([TASK, 'host: x', 'content-length: +2'])],
    ['a Content-Length list', head([TASK, 'host: x', 'content-length: 2, 2'])],
    ['a body over the limit', head([TASK, 'host: x', `content-length: ${LIMIT + 1}`])],
    ['Transfer-Encoding', head([TASK, 'host: x', 'content-length: 2', 'Transfer-Encoding: chunked'])],
    ['Expect', head([TASK, 'host: x', 'content-length: 2', 'Expect: 100-continue'])],
    ['Upgrade', head([TASK, 'host: x', 'content-length: 2', 'Upgrade: websocket'])],
    ['Connection: upgrade', head([TASK, 'host: x', 'content-length: 2', 'Connection: Upgrade'])],
    ['a folded header line', head([TASK, 'host: x', 'content-length: 2', 'x-a: 1', ' 2'])],
    ['a space before the colon', head([TASK, 'host: x', 'content-length : 2'])],
    ['a line without a colon', head([TASK, 'host: x', 'content-length: 2', 'junk'])],
    ['a bare LF', Buffer.from(`${TASK}\r\nhost: x\ncontent-length: 2\r\n\r\n`)],
    ['a bare CR', Buffer.from(`${TASK}\r\nhost: x\rcontent-length: 2\r\n\r\n`)],
    ['a NUL byte', head([TASK, 'host: x\0', 'content-length: 2'])],
    ['a byte above 0x7e', head([TASK, 'host: x\u00e9', 'content-length: 2'])],
    ['too many header lines', head([TASK, 'host: x', 'content-length: 2', ...Array.from({ length: MAX_TASK_HEAD_FIELDS }, (_, i) => `x-${i}: 1`)])],
    ['a head over 16 KiB', head([TASK, 'host: x', 'content-length: 2', `x-big: ${'a'.repeat(MAX_TASK_HEAD_BYTES)}`])]
  ]
  for (const [what, bytes] of outside) {
    it(`leaves ${what} to node:http`, () => {
      assert.equal(parseTaskHead(bytes, LIMIT), undefined)
    })
  }
})
