/**
 * The relay's task fast path (relay/fast-path/): task calls answered byte for byte as node:http
 * answers them (a relay with `httpTaskFastPath: false` beside it), every request outside its
 * subset left to node:http with the same answer, pipelined requests answered in order across a
 * hand-over, a client that does not read its answers, node:http's deadlines, and a
 * differential fuzz: mutated task requests, each followed by a pipelined request, get the same
 * answers from both (a body framed differently would show in the second answer).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { prng } from '../helpers/prng.ts'
import { startRelay, type RelayHarness } from '../helpers/relay-harness.ts'

/** One HTTP answer read off a raw connection: its head without the Date line, and its body. */
interface RawAnswer {
  head: string
  body: string
}

/** Reads answers off `socket` as they come (Content-Length framed, 1xx skipped). */
class AnswerReader {
  #buf = Buffer.alloc(0)
  readonly answers: RawAnswer[] = []
  #closed = false
  #waiters: Array<() => void> = []

  constructor (socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d])
      this.#parse()
    })
    socket.on('close', () => {
      this.#closed = true
      this.#wake()
    })
  }

  /** Resolves with the first `n` answers, or with those there are once the connection closes. */
  async take (n: number): Promise<RawAnswer[]> {
    while (this.answers.length < n && !this.#closed) await new Promise<void>(resolve => this.#waiters.push(resolve))
    return this.answers.slice(0, n)
  }

  get closed (): boolean {
    return this.#closed
  }

  #wake (): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  #parse (): void {
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = this.#buf.toString('latin1', 0, end)
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (this.#buf.length < end + 4 + length) return
      const body = this.#buf.toString('utf8', end + 4, end + 4 + length)
      this.#buf = this.#buf.subarray(end + 4 + length)
      if (/^HTTP\/1\.1 1\d\d /.test(head)) continue
      this.answers.push({ head: head.split('\r\n').filter(l => !l.startsWith('Date: ')).join('\r\n'), body })
      this.#wake()
    }
  }
}

async function open (port: number): Promise<{ socket: Socket, reader: AnswerReader }> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  const reader = new AnswerReader(socket)
  await once(socket, 'connect')
  return { socket, reader }
}

/** Writes `parts` one after the other (each its own write) and reads `n` answers. */
async function exchange (port: number, parts: string[], n: number): Promise<RawAnswer[]> {
  const { socket, reader } = await open(port)
  try {
    for (const p of parts) {
      socket.write(p)
      await new Promise(resolve => setImmediate(resolve))
    }
    return await reader.take(n)
  } finally {
    socket.destroy()
  }
}

/** node:http's answer to bytes it cannot parse, written as it closes the connection. */
const PARSE_ERROR: RawAnswer = { head: 'HTTP/1.1 400 Bad Request\r\nConnection: close', body: '' }

/**
 * Whether two connections' answers to the same bytes agree. Equal, or both ended with node:http's
 * parse-error answer and one list is the other's start: when node:http meets bytes it cannot
 * parse behind a request it is still answering, it writes that 400 and closes at once, so
 * whether the earlier answer gets out first depends on timing (and the fast path, which has
 * answered that request before it hands the rest over, always gets it out).
 */
function sameOutcome (a: RawAnswer[], b: RawAnswer[]): boolean {
  const json = (x: RawAnswer[]): string => JSON.stringify(x)
  if (json(a) === json(b)) return true
  const endsWithParseError = (x: RawAnswer[]): boolean => x.length > 0 && json(x.slice(-1)) === json([PARSE_ERROR])
  const strip = (x: RawAnswer[]): RawAnswer[] => endsWithParseError(x) ? x.slice(0, -1) : x
  const [sa, sb] = [strip(a), strip(b)]
  const shorter = sa.length <= sb.length ? sa : sb
  const longer = sa.length <= sb.length ? sb : sa
  if (json(longer.slice(0, shorter.length)) !== json(shorter)) return false
  return sa.length === sb.length || (endsWithParseError(a) && endsWithParseError(b))
}

function task (taskId: string, extraHeaders = '', worker = 'w1'): string {
  const body = JSON.stringify({ task_id: taskId, intent: 'urn:x', payload: { n: 1 } })
  return `POST /v1/relay-for/${worker}/v1/task HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`
}

describe('relay task fast path', () => {
  let fast: RelayHarness
  let plain: RelayHarness
  /** A pair with short deadlines, for requests that wait for bytes that never come. */
  let fuzzFast: RelayHarness
  let fuzzPlain: RelayHarness

  before(async () => {
    fast = await startRelay({ httpHeadersTimeoutMs: 300 })
    plain = await startRelay({ httpHeadersTimeoutMs: 300, httpTaskFastPath: false })
    fuzzFast = await startRelay({ httpHeadersTimeoutMs: 200, httpRequestTimeoutMs: 200 })
    fuzzPlain = await startRelay({ httpHeadersTimeoutMs: 200, httpRequestTimeoutMs: 200, httpTaskFastPath: false })
    for (const h of [fast, plain, fuzzFast, fuzzPlain]) {
      const w = await h.worker('w1')
      w.serve(value => {
        const t = value as { task_id: string, payload?: { fail?: boolean, bytes?: number } }
        if (t.payload?.fail === true) return { error: { message: 'boom' } }
        if (t.payload?.bytes !== undefined) return { result: 'x'.repeat(t.payload.bytes) }
        return { result: { echoed: t.task_id } }
      })
    }
  })

  after(async () => {
    await fast.close()
    await plain.close()
    await fuzzFast.close()
    await fuzzPlain.close()
  })

  /** The same raw exchange against both relays: the same answers. */
  async function same (parts: string[], n: number): Promise<RawAnswer[]> {
    const a = await exchange(fast.httpPort, parts, n)
    const b = await exchange(plain.httpPort, parts, n)
    assert.deepEqual(a, b)
    return a
  }

  it('answers a task call with the bytes node:http writes: success, bad JSON, worker failure, no session', async () => {
    const [ok] = await same([task('t1')], 1)
    assert.match(ok?.head ?? '', /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(ok?.head ?? '', /\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5$/)
    assert.deepEqual(JSON.parse(ok?.body ?? ''), { task_id: 't1', status: 'completed', result: { echoed: 't1' } })
    const bad = '{"task_id":"t2",'
    const [badJson] = await same([`POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: ${bad.length}\r\n\r\n${bad}`], 1)
    assert.match(badJson?.head ?? '', /^HTTP\/1\.1 400 /)
    const failing = JSON.stringify({ task_id: 't3', payload: { fail: true } })
    const [failed] = await same([`POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: ${failing.length}\r\n\r\n${failing}`], 1)
    assert.match(failed?.head ?? '', /^HTTP\/1\.1 500 /)
    const [none] = await same([task('t4', '', 'nobody')], 1)
    assert.match(none?.head ?? '', /^HTTP\/1\.1 404 /)
    const [closing] = await same([task('t5', 'Connection: close\r\n')], 1)
    assert.match(closing?.head ?? '', /\r\nConnection: close$/)
  })

  it('answers a large task and a large answer as chunks, the same as node:http', async () => {
    const body = JSON.stringify({ task_id: 'big', payload: { bytes: 300_000, pad: 'p'.repeat(200_000) } })
    const [big] = await same([`POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: ${body.length}\r\n\r\n${body}`], 1)
    assert.match(big?.head ?? '', /^HTTP\/1\.1 200 /)
    assert.equal((JSON.parse(big?.body ?? '') as { result: string }).result.length, 300_000)
  })

  const outside: Array<[string, string[], RegExp]> = [
    ['a head split across writes', [task('s1').slice(0, 30), task('s1').slice(30)], /^HTTP\/1\.1 200 /],
    ['a chunked body', ['POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"task_id":"c1"}\r\n0\r\n\r\n'], /^HTTP\/1\.1 200 /],
    ['two different Content-Lengths', ['POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'], /^HTTP\/1\.1 400 /],
    ['Content-Length with Transfer-Encoding', ['POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'], /^HTTP\/1\.1 400 /],
    ['HTTP/1.0', [task('h10').replace('HTTP/1.1', 'HTTP/1.0')], /^HTTP\/1\.1 200 /],
    ['a query string', [task('q1').replace('/v1/task ', '/v1/task?x=1 ')], /^HTTP\/1\.1 200 /],
    ['a folded header', [task('f1', 'X-A: 1\r\n 2\r\n')], /^HTTP\/1\.1 400 /],
    ['no Host', [task('n1').replace('Host: relay\r\n', '')], /^HTTP\/1\.1 400 /],
    ['a lower-case method', [task('m1').replace('POST', 'post')], /^HTTP\/1\.1 400 /],
    ['Expect: 100-continue', [task('e1', 'Expect: 100-continue\r\n')], /^HTTP\/1\.1 200 /]
  ]
  for (const [what, parts, status] of outside) {
    it(`leaves ${what} to node:http, with node:http's answer`, async () => {
      const [answer] = await same(parts, 1)
      assert.match(answer?.head ?? '(closed)', status)
    })
  }

  it('answers pipelined requests in order, across the hand-over to node:http', async () => {
    const answers = await same([task('p1') + task('p2') + task('p3') + 'GET /iicp/health HTTP/1.1\r\nHost: r\r\n\r\n' + task('p5')], 5)
    assert.deepEqual(answers.slice(0, 3).map(a => (JSON.parse(a.body) as { task_id: string }).task_id), ['p1', 'p2', 'p3'])
    assert.equal((JSON.parse(answers[3]?.body ?? '') as { status: string }).status, 'ok')
    assert.equal((JSON.parse(answers[4]?.body ?? '') as { task_id: string }).task_id, 'p5')
  })

  it('reads no more from a client that does not read its answers, and answers all once it does', async () => {
    const { socket, reader } = await open(fast.httpPort)
    try {
      socket.pause()
      const body = (i: number): string => JSON.stringify({ task_id: `r${i}`, payload: { bytes: 256 * 1024 } })
      const n = 48
      let all = ''
      for (let i = 0; i < n; i++) all += `POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: ${body(i).length}\r\n\r\n${body(i)}`
      socket.write(all)
      // Let the relay fill what the socket buffers hold, then read.
      await new Promise(resolve => setTimeout(resolve, 100))
      socket.resume()
      const answers = await reader.take(n)
      assert.deepEqual(answers.map(a => (JSON.parse(a.body) as { task_id: string }).task_id), Array.from({ length: n }, (_, i) => `r${i}`))
    } finally {
      socket.destroy()
    }
  })

  it('a new connection that sends nothing gets node:http\'s 408 at the headers deadline', async () => {
    for (const h of [fast, plain]) {
      const { reader } = await open(h.httpPort)
      const [answer] = await reader.take(1)
      assert.match(answer?.head ?? '', /^HTTP\/1\.1 408 Request Timeout\r\nConnection: close$/)
      await reader.take(2)
      assert.equal(reader.closed, true)
    }
  })

  it('a client that ends its input in the middle of a body gets node:http\'s 400', async () => {
    const answers: RawAnswer[][] = []
    for (const h of [fast, plain]) {
      const { socket, reader } = await open(h.httpPort)
      socket.end('POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: r\r\nContent-Length: 100\r\n\r\n{"task_id":')
      answers.push(await reader.take(2))
      assert.equal(reader.closed, true)
    }
    assert.deepEqual(answers[0], [PARSE_ERROR])
    assert.deepEqual(answers[1], [PARSE_ERROR])
  })

  it('closes a kept-alive connection idle past the keep-alive timeout (5 s)', async () => {
    const { socket, reader } = await open(fast.httpPort)
    socket.write(task('k1'))
    assert.equal((await reader.take(1)).length, 1)
    const idle = performance.now()
    await reader.take(2)
    assert.equal(reader.closed, true)
    assert.ok(performance.now() - idle >= 4_500, 'closed before the keep-alive timeout')
  })

  it('answers mutated task requests, each with a request pipelined behind it, as node:http does (differential fuzz)', async () => {
    const random = prng(13)
    const bytes = [...' \t\r\n:,;0123456789aAzZ-+"/%?#', '\0', '\u007f', '\u00ff'].map(c => c.charCodeAt(0))
    const body = JSON.stringify({ task_id: 'z1', payload: { n: 1 } })
    const base = Buffer.from(`POST /v1/relay-for/w1/v1/task HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1')
    const next = 'GET /v1/relay-for/w1/iicp/health HTTP/1.1\r\nHost: relay\r\n\r\n'
    const lines = ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity', 'Content-Length: 0', `Content-Length: ${body.length + 3}`, 'Content-Length: 1',
      'Connection: close', 'Connection: upgrade', 'Expect: 100-continue', 'Host: x', ' folded', 'X-A:', 'X A: 1', 'Upgrade: h2c']
    let differing = 0
    let closing = 0
    for (let i = 0; i < 400; i++) {
      let m = Buffer.from(base)
      for (let k = random() < 0.7 ? 1 : 2; k > 0; k--) {
        const end = m.indexOf('\r\n\r\n') + 2
        const at = Math.floor(random() * Math.max(end, 1))
        const b = bytes[Math.floor(random() * bytes.length)] as number
        const op = random()
        if (op < 0.35) m[at] = b
        else if (op < 0.5) m = Buffer.concat([m.subarray(0, at), Buffer.from([b]), m.subarray(at)])
        else if (op < 0.6) m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)])
        else {
          // A whole header line, inserted at the start of a line.
          const lineStart = m.lastIndexOf('\r\n', Math.max(at, 1)) + 2
          const line = lines[Math.floor(random() * lines.length)] as string
          m = Buffer.concat([m.subarray(0, lineStart), Buffer.from(`${line}\r\n`, 'latin1'), m.subarray(lineStart)])
        }
      }
      const head = m.toString('latin1', 0, m.indexOf('\r\n\r\n'))
      // The one documented difference: bytes after a request with `Connection: close` get node:http's 400 instead of
      // the request's answer; the fast path answers the request and closes (RFC 9112 §9.6).
      if (/\r\nconnection:[^\r]*\bclose\b/i.test(head)) {
        closing++
        continue
      }
      const request = m.toString('latin1') + next
      const a = await exchange(fuzzFast.httpPort, [request], 2)
      const b = await exchange(fuzzPlain.httpPort, [request], 2)
      if (!sameOutcome(a, b)) {
        differing++
        assert.deepEqual(a, b, `mutation ${i}: ${JSON.stringify(request)}`)
      }
    }
    assert.equal(differing, 0)
    assert.ok(closing < 100, `${closing} mutations skipped`)
  })
})
