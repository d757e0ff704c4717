/**
 * How the relay reads a worker's answer and a consumer's task (issue 7 defect 8, issue 13): an
 * answer is a failure only when `error` is present, not null/false, and there is no `result`;
 * the 500 body keeps the worker's error object and its other members; a success is the
 * worker's bytes spliced after the relay's `task_id` and `status`; `task_id` is read from the
 * task's top level only, escapes included.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { http, startRelay, type RelayHarness } from '../helpers/relay-harness.ts'
import type { RelayPeer } from '../helpers/relay-peer.ts'

/** A worker that answers each task with the raw bytes in its `answer` field. */
async function withRawWorker (fn: (h: RelayHarness, p: RelayPeer) => Promise<void>): Promise<void> {
  const h = await startRelay()
  try {
    const p = await h.worker('w1')
    p.serve(task => Buffer.from((task as { answer: string }).answer, 'utf8'))
    await fn(h, p)
  } finally {
    await h.close()
  }
}

async function relayed (h: RelayHarness, answer: string, taskId = 't'): Promise<{ status: number, body: unknown }> {
  const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: taskId, answer } })
  return { status: ans.status, body: ans.json() }
}

describe('worker answers through the relay', () => {
  it('an error member that is null or false is not a failure: 200 with every member', async () => {
    await withRawWorker(async (h) => {
      assert.deepEqual(await relayed(h, '{"text":"hello","error":null}'), { status: 200, body: { task_id: 't', status: 'completed', text: 'hello', error: null } })
      assert.deepEqual(await relayed(h, '{"error":false,"n":1}'), { status: 200, body: { task_id: 't', status: 'completed', error: false, n: 1 } })
      // Duplicate keys: the last one counts, as in JSON.parse.
      assert.equal((await relayed(h, '{"error":"x","error":null}')).status, 200)
    })
  })

  it('a failure keeps the worker\'s other members and its error object (500)', async () => {
    await withRawWorker(async (h) => {
      assert.deepEqual(await relayed(h, '{"error":"decrypt failed","code":"IICP-CX-02"}'),
        { status: 500, body: { task_id: 't', status: 'error', error: { message: 'decrypt failed' }, code: 'IICP-CX-02' } })
      assert.deepEqual(await relayed(h, '{"error":{"message":"m","code":"X","retry":true},"hint":"h","task_id":"w","status":"s"}'),
        { status: 500, body: { task_id: 't', status: 'error', error: { message: 'm', code: 'X', retry: true }, hint: 'h' } })
      const noMessage = await relayed(h, '{"error":{"code":"X"}}')
      assert.equal(noMessage.status, 500)
      assert.deepEqual(noMessage.body, { task_id: 't', status: 'error', error: { code: 'X', message: '{"code":"X"}' } })
      // An escaped key is the same key.
      assert.deepEqual(await relayed(h, '{"\\u0065rror":"boom"}'), { status: 500, body: { task_id: 't', status: 'error', error: { message: 'boom' } } })
      assert.deepEqual(await relayed(h, ' {"error":0} '), { status: 500, body: { task_id: 't', status: 'error', error: { message: '0' } } })
    })
  })

  it('a success with whitespace, nesting and escapes is passed through byte for byte after the relay\'s keys', async () => {
    await withRawWorker(async (h) => {
      const answer = '\n{ "result" : {"error":"nested, not a failure","a":[1,-2.5e3,true,null,{}]}, "s":"q\\"\\\\\\u00e9" }\t'
      const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { body: { task_id: 'x"y', answer } })
      assert.equal(ans.status, 200)
      assert.deepEqual(ans.json(), { task_id: 'x"y', status: 'completed', ...JSON.parse(answer) })
      assert.equal(ans.body.toString('utf8'), `{"task_id":"x\\"y","status":"completed",${answer.trimStart().slice(1)}`)
    })
  })

  it('answers that are not one JSON object are 500 bad result', async () => {
    await withRawWorker(async (h) => {
      for (const answer of ['{"a":1', '{"a":1}}', '{"a":01}', '{"a":tru}', '{"a" 1}', '{"a":1,}', '[]', '"s"', '', '{"a":"\\x"}']) {
        const r = await relayed(h, answer)
        assert.equal(r.status, 500, answer)
        assert.equal((r.body as { status: string }).status, 'error', answer)
      }
    })
  })

  it('task_id comes from the task\'s top level only, escapes decoded; a bad task is 400 and not forwarded', async () => {
    const h = await startRelay()
    try {
      const p = await h.worker('w1')
      p.serve(() => ({ ok: true }))
      const send = async (body: string): Promise<{ status: number, json: Record<string, unknown> }> => {
        const ans = await http(h.httpPort, '/v1/relay-for/w1/v1/task', { method: 'POST', body })
        return { status: ans.status, json: ans.json() }
      }
      assert.equal((await send('{"x":{"task_id":"inner"}}')).json.task_id, '')
      assert.equal((await send('{"t\\u0061sk_id":"a\\u00e9\\n"}')).json.task_id, 'aé\n')
      assert.equal((await send('{"task_id":"first","task_id":"last"}')).json.task_id, 'last')
      assert.equal((await send('{"task_id":["not","a","string"]}')).json.task_id, '')
      for (const bad of ['{"task_id":"t"', '{"task_id":"t"}x', '{"a":[1,2}', '{"a":.5}', '{"a":"\\ud800x\\q"}', '{,}', '{"a":1 "b":2}']) {
        assert.equal((await send(bad)).status, 400, bad)
      }
      await assert.rejects(p.nextFrame(100))
    } finally {
      await h.close()
    }
  })

  it('relay.forward() keeps the worker\'s answer: null errors succeed, failures carry the answer in details', async () => {
    await withRawWorker(async (h) => {
      const ok = await h.relay.forward('w1', { answer: '{"text":"hello","error":null}' })
      assert.deepEqual(ok.result, { text: 'hello', error: null })
      await assert.rejects(h.relay.forward('w1', { answer: '{"error":"decrypt failed","code":"IICP-CX-02"}' }), (err: unknown) =>
        isToolkitError(err, ErrorCode.WorkerError) && err.details?.message === 'decrypt failed' &&
        (err.details.answer as { code: string }).code === 'IICP-CX-02')
    })
  })
})
