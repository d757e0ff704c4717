import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FrameDecoder, decodeFrame, encodeFrame, MsgType } from '../../src/protocol/frame.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { framingVectors } from '../helpers/fixtures.ts'

describe('native framing v1 (checklist 1-5)', () => {
  for (const s of framingVectors.scenarios) {
    it(`fixture ${s.name}`, () => {
      const r = decodeFrame(Buffer.from(s.wire_hex, 'hex'))
      if (s.expected.outcome === 'accept') {
        assert.equal(r.outcome, 'accept')
        if (r.outcome !== 'accept') return
        assert.equal(r.frame.version, s.expected.version)
        assert.equal(r.frame.type, s.expected.message_type)
        assert.equal(r.frame.flags, s.expected.flags)
        assert.equal(r.frame.payload.toString('hex'), s.expected.payload_hex)
        assert.equal(r.consumed, s.expected.consumed)
      } else {
        assert.deepEqual(r, { outcome: 'reject', reason: s.expected.reason })
      }
    })
  }

  it('encodes an empty PING byte for byte', () => {
    assert.equal(encodeFrame(MsgType.Ping).toString('hex'), '494943500109000000000000')
  })

  it('streams INIT+PING in one chunk and frames split at every byte boundary', () => {
    const wire = Buffer.concat([Buffer.from('494943500101000000000003a10101', 'hex'), Buffer.from('494943500109000000000003a10140', 'hex')])
    assert.equal(new FrameDecoder().push(wire).length, 2)
    for (let cut = 1; cut < wire.length; cut++) {
      const d = new FrameDecoder()
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))]
      assert.deepEqual(frames.map(f => f.type), [MsgType.Init, MsgType.Ping], `cut at ${cut}`)
      assert.equal(d.bufferedBytes, 0)
    }
    const d = new FrameDecoder()
    const oneByOne = [...wire].flatMap(b => d.push(Buffer.from([b])))
    assert.deepEqual(oneByOne.map(f => f.payload.toString('hex')), ['a10101', 'a10140'])
  })

  it('processes flags 0x80 and reserved 0xff normally', () => {
    const frames = new FrameDecoder().push(Buffer.from('49494350010980ff00000000', 'hex'))
    assert.equal(frames.length, 1)
    assert.equal(frames[0]?.flags, 0x80)
  })

  it('refuses a length over 16 MiB from the header alone', () => {
    const header = Buffer.from('494943500105000001000001', 'hex')
    assert.throws(() => new FrameDecoder().push(header), (err: unknown) => isToolkitError(err, ErrorCode.FrameTooLarge))
    const exact = Buffer.from('494943500105000001000000', 'hex')
    assert.deepEqual(new FrameDecoder().push(exact), [])
  })

  it('rejects bad magic as soon as the first byte arrives', () => {
    assert.throws(() => new FrameDecoder().push(Buffer.from('58', 'hex')), (err: unknown) => isToolkitError(err, ErrorCode.FrameMagic))
  })
})
