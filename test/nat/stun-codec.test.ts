import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import {
  AttributeType, appendFingerprint, appendMessageIntegrity, decodeAddress, decodeChangeRequest, decodeErrorCode,
  decodeMessage, decodeResponsePort, decodeText, decodeUnknownAttributes, decodeXorAddress, encodeAddress,
  encodeChangeRequest, encodeErrorCode, encodeMessage, encodeResponsePort, encodeUnknownAttributes, encodeXorAddress,
  getAttribute, looksLikeStun, messageType, newTransactionId, parseBindingResponse, splitMessageType, StunMethod,
  verifyMessageIntegrity, type StunAttribute
} from '../../nat/stun/index.ts'
import { RFC5769_PASSWORD, rfc5769 } from '../helpers/stun-fixtures.ts'

const TXID = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex')

function assertInvalid (fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isToolkitError(err, ErrorCode.StunInvalid), `expected ERR_STUN_INVALID, got ${String(err)}`)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}

/** A header with the given body (length field = body length unless overridden). */
function rawMessage (body: Buffer, options: { type?: number, length?: number, cookie?: number } = {}): Buffer {
  const header = Buffer.alloc(20)
  header.writeUInt16BE(options.type ?? 0x0001, 0)
  header.writeUInt16BE(options.length ?? body.length, 2)
  header.writeUInt32BE(options.cookie ?? 0x2112a442, 4)
  TXID.copy(header, 8)
  return Buffer.concat([header, body])
}

function attr (type: number, value: Buffer, pad = true): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt16BE(type, 0)
  head.writeUInt16BE(value.length, 2)
  const padding = pad ? Buffer.alloc((4 - (value.length % 4)) % 4) : Buffer.alloc(0)
  return Buffer.concat([head, value, padding])
}

/** The vector cut just before its MESSAGE-INTEGRITY attribute, length field fixed to match. */
function prefixBeforeIntegrity (vector: Buffer): Buffer {
  const msg = decodeMessage(vector)
  const offset = msg.integrityOffset as number
  const prefix = Buffer.from(vector.subarray(0, offset))
  prefix.writeUInt16BE(offset - 20, 2)
  return prefix
}

describe('STUN codec: RFC 5769 test vectors', () => {
  it('§2.1 sample request: parses, FINGERPRINT and MESSAGE-INTEGRITY check, wrong password does not', () => {
    const bytes = rfc5769.request
    assert.equal(bytes.length, 108)
    const msg = decodeMessage(bytes)
    assert.equal(msg.method, StunMethod.Binding)
    assert.equal(msg.class, 'request')
    assert.deepEqual(msg.transactionId, TXID)
    assert.equal(msg.hasFingerprint, true)
    assert.equal(getAttribute(msg, AttributeType.Software)?.toString(), 'STUN test client')
    assert.equal(getAttribute(msg, AttributeType.Username)?.toString(), 'evtj:h6vY')
    assert.deepEqual(getAttribute(msg, 0x0024), Buffer.from('6e0001ff', 'hex'), 'PRIORITY (unknown to us, kept)')
    assert.deepEqual(getAttribute(msg, 0x8029), Buffer.from('932ff9b151263b36', 'hex'), 'ICE-CONTROLLED')
    assert.equal(verifyMessageIntegrity(msg, RFC5769_PASSWORD), 'valid')
    assert.equal(verifyMessageIntegrity(msg, Buffer.from(RFC5769_PASSWORD)), 'valid')
    assert.equal(verifyMessageIntegrity(msg, 'VOkJxbRl1RmTxUk/WvJxBT'), 'invalid')
  })

  it('§2.2 IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity and FINGERPRINT check', () => {
    const msg = decodeMessage(rfc5769.ipv4Response)
    assert.equal(msg.class, 'success')
    assert.equal(msg.hasFingerprint, true)
    assert.equal(verifyMessageIntegrity(msg, RFC5769_PASSWORD), 'valid')
    const parsed = parseBindingResponse(msg)
    assert.deepEqual(parsed.mapped, { family: 4, address: '192.0.2.1', port: 32853 })
    assert.equal(parsed.software, 'test vector')
    assert.equal(parsed.algSuspected, false)
    assert.equal(parsed.otherAddress, undefined)
  })

  it('§2.3 IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const msg = decodeMessage(rfc5769.ipv6Response)
    assert.equal(msg.hasFingerprint, true)
    assert.equal(verifyMessageIntegrity(msg, RFC5769_PASSWORD), 'valid')
    assert.deepEqual(parseBindingResponse(msg).mapped, { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 })
  })

  it('appendMessageIntegrity + appendFingerprint rebuild every vector byte for byte', () => {
    for (const [name, vector] of Object.entries(rfc5769)) {
      const rebuilt = appendFingerprint(appendMessageIntegrity(prefixBeforeIntegrity(vector), RFC5769_PASSWORD, 'sha1'))
      assert.deepEqual(rebuilt, vector, name)
    }
  })

  it('encodeXorAddress writes the vectors\' XOR-MAPPED-ADDRESS values', () => {
    assert.deepEqual(encodeXorAddress({ address: '192.0.2.1', port: 32853 }, TXID), Buffer.from('0001a147e112a643', 'hex'))
    assert.deepEqual(
      encodeXorAddress({ address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, TXID),
      Buffer.from('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9', 'hex')
    )
  })
})

describe('STUN codec: encode and decode', () => {
  it('message types interleave method and class bits (RFC 5389 §6)', () => {
    assert.equal(messageType(StunMethod.Binding, 'request'), 0x0001)
    assert.equal(messageType(StunMethod.Binding, 'indication'), 0x0011)
    assert.equal(messageType(StunMethod.Binding, 'success'), 0x0101)
    assert.equal(messageType(StunMethod.Binding, 'error'), 0x0111)
    assert.equal(messageType(0x003, 'request'), 0x0003)
    for (const method of [0x000, 0x001, 0x00f, 0x010, 0x07f, 0x080, 0xfff]) {
      for (const cls of ['request', 'indication', 'success', 'error'] as const) {
        assert.deepEqual(splitMessageType(messageType(method, cls)), { method, class: cls })
      }
    }
  })

  it('round-trips attributes with zero padding, SHA1 + SHA256 integrity and FINGERPRINT', () => {
    const transactionId = newTransactionId()
    const attributes: StunAttribute[] = [
      { type: AttributeType.Software, value: Buffer.from('abcde') },
      { type: AttributeType.XorMappedAddress, value: encodeXorAddress({ address: '203.0.113.9', port: 40000 }, transactionId) },
      { type: AttributeType.OtherAddress, value: encodeAddress({ address: '2001:db8::2', port: 3479 }) }
    ]
    const bytes = encodeMessage({ class: 'success', transactionId, attributes }, { integrity: { key: 'secret', algorithms: ['sha1', 'sha256'] } })
    assert.equal(bytes.length % 4, 0)
    assert.ok(looksLikeStun(bytes))
    const msg = decodeMessage(bytes)
    assert.equal(msg.hasFingerprint, true)
    assert.deepEqual(msg.attributes.map(a => a.type), [AttributeType.Software, AttributeType.XorMappedAddress, AttributeType.OtherAddress, AttributeType.MessageIntegrity, AttributeType.MessageIntegritySha256, AttributeType.Fingerprint])
    assert.equal(getAttribute(msg, AttributeType.Software)?.toString(), 'abcde')
    assert.deepEqual(bytes.subarray(20 + 4 + 5, 20 + 4 + 8), Buffer.alloc(3), 'padding is zeros')
    assert.equal(verifyMessageIntegrity(msg, 'secret'), 'valid')
    assert.equal(verifyMessageIntegrity(msg, 'other'), 'invalid')
    const parsed = parseBindingResponse(msg)
    assert.deepEqual(parsed.mapped, { family: 4, address: '203.0.113.9', port: 40000 })
    assert.deepEqual(parsed.otherAddress, { family: 6, address: '2001:db8::2', port: 3479 })
  })

  it('verifies a MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes; absent integrity is reported as such', () => {
    const body = encodeMessage({ class: 'request', transactionId: TXID }, { fingerprint: false })
    const covered = Buffer.from(body)
    covered.writeUInt16BE(body.length - 20 + 4 + 16, 2)
    const mac = createHmac('sha256', 'key').update(covered).digest().subarray(0, 16)
    const full = Buffer.concat([covered, attr(AttributeType.MessageIntegritySha256, mac)])
    assert.equal(verifyMessageIntegrity(decodeMessage(full), 'key'), 'valid')
    assert.equal(verifyMessageIntegrity(decodeMessage(full), 'nope'), 'invalid')
    assert.equal(verifyMessageIntegrity(decodeMessage(body), 'key'), 'absent')
  })

  it('ignores attributes after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const withIntegrity = appendMessageIntegrity(encodeMessage({ class: 'request', transactionId: TXID }, { fingerprint: false }), 'k')
    const extra = attr(AttributeType.Software, Buffer.from('late'))
    const body = Buffer.concat([withIntegrity.subarray(20), extra])
    const message = appendFingerprint(rawMessage(body))
    const msg = decodeMessage(message)
    assert.deepEqual(msg.attributes.map(a => a.type), [AttributeType.MessageIntegrity, AttributeType.Fingerprint])
    assert.equal(verifyMessageIntegrity(msg, 'k'), 'valid')
  })

  it('a changed byte breaks FINGERPRINT; without FINGERPRINT it breaks MESSAGE-INTEGRITY', () => {
    const tampered = Buffer.from(rfc5769.request)
    tampered[30] = (tampered[30] ?? 0) ^ 0x01
    assertInvalid(() => decodeMessage(tampered), /FINGERPRINT mismatch/)
    const noFp = encodeMessage({ class: 'request', transactionId: TXID, attributes: [{ type: AttributeType.Software, value: Buffer.from('abcd') }] }, { integrity: { key: 'k' }, fingerprint: false })
    noFp[24] = 0x41
    assert.equal(verifyMessageIntegrity(decodeMessage(noFp), 'k'), 'invalid')
  })

  it('attribute value codecs round-trip', () => {
    assert.deepEqual(decodeChangeRequest(encodeChangeRequest({ changeIp: true, changePort: false })), { changeIp: true, changePort: false })
    assert.deepEqual(encodeChangeRequest({ changeIp: true, changePort: true }), Buffer.from('00000006', 'hex'))
    assert.equal(decodeResponsePort(encodeResponsePort(4242)), 4242)
    assert.deepEqual(decodeErrorCode(encodeErrorCode({ code: 420, reason: 'Unknown Attribute' })), { code: 420, reason: 'Unknown Attribute' })
    assert.deepEqual(decodeUnknownAttributes(encodeUnknownAttributes([0x0003, 0x0027])), [0x0003, 0x0027])
    assert.deepEqual(decodeAddress(encodeAddress({ address: '::1', port: 1 })), { family: 6, address: '::1', port: 1 })
    const txid = newTransactionId()
    assert.deepEqual(decodeXorAddress(encodeXorAddress({ address: 'fe80::1', port: 65535 }, txid), txid), { family: 6, address: 'fe80::1', port: 65535 })
  })

  it('reads legacy CHANGED-ADDRESS / SOURCE-ADDRESS and flags an ALG rewriting MAPPED-ADDRESS', () => {
    const transactionId = newTransactionId()
    const msg = decodeMessage(encodeMessage({
      class: 'success',
      transactionId,
      attributes: [
        { type: AttributeType.MappedAddress, value: encodeAddress({ address: '10.0.0.1', port: 1000 }) },
        { type: AttributeType.XorMappedAddress, value: encodeXorAddress({ address: '198.51.100.1', port: 1000 }, transactionId) },
        { type: AttributeType.SourceAddress, value: encodeAddress({ address: '192.0.2.10', port: 3478 }) },
        { type: AttributeType.ChangedAddress, value: encodeAddress({ address: '192.0.2.11', port: 3479 }) }
      ]
    }))
    const parsed = parseBindingResponse(msg)
    assert.deepEqual(parsed.mapped, { family: 4, address: '198.51.100.1', port: 1000 })
    assert.equal(parsed.algSuspected, true)
    assert.deepEqual(parsed.responseOrigin, { family: 4, address: '192.0.2.10', port: 3478 })
    assert.deepEqual(parsed.otherAddress, { family: 4, address: '192.0.2.11', port: 3479 })
    assertInvalid(() => parseBindingResponse(decodeMessage(encodeMessage({ class: 'success', transactionId }))), /without XOR-MAPPED-ADDRESS/)
  })
})

describe('STUN codec: malformed input is ERR_STUN_INVALID', () => {
  const software = attr(AttributeType.Software, Buffer.from('abcd'))
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['shorter than a header', () => decodeMessage(Buffer.alloc(19)), /shorter than a STUN header/],
    ['top bits set', () => decodeMessage(rawMessage(Buffer.alloc(0), { type: 0x4001 })), /top two bits/],
    ['length not a multiple of 4', () => decodeMessage(rawMessage(Buffer.concat([software, Buffer.alloc(2)]))), /multiple of 4/],
    ['length longer than the datagram', () => decodeMessage(rawMessage(software, { length: 12 })), /does not match the datagram/],
    ['length shorter than the datagram', () => decodeMessage(rawMessage(software, { length: 4 })), /does not match the datagram/],
    ['wrong magic cookie', () => decodeMessage(rawMessage(software, { cookie: 0x2112a443 })), /magic cookie/],
    ['attribute past the end', () => decodeMessage(rawMessage(Buffer.from('8022000861626364', 'hex'))), /runs past the message/],
    ['padding missing', () => decodeMessage(rawMessage(Buffer.from('8022000561626364', 'hex'))), /runs past the message/],
    ['FINGERPRINT not last', () => decodeMessage(rawMessage(Buffer.concat([appendFingerprint(rawMessage(Buffer.alloc(0))).subarray(20), software]))), /FINGERPRINT/],
    ['FINGERPRINT wrong length', () => decodeMessage(rawMessage(attr(AttributeType.Fingerprint, Buffer.alloc(8)))), /FINGERPRINT must be 4 bytes/],
    ['FINGERPRINT wrong value', () => decodeMessage(rawMessage(attr(AttributeType.Fingerprint, Buffer.alloc(4)))), /FINGERPRINT mismatch/],
    ['MESSAGE-INTEGRITY wrong length', () => decodeMessage(rawMessage(attr(AttributeType.MessageIntegrity, Buffer.alloc(16)))), /MESSAGE-INTEGRITY must be 20/],
    ['MESSAGE-INTEGRITY-SHA256 too short', () => decodeMessage(rawMessage(attr(AttributeType.MessageIntegritySha256, Buffer.alloc(12)))), /SHA256 length/],
    ['MESSAGE-INTEGRITY-SHA256 too long', () => decodeMessage(rawMessage(attr(AttributeType.MessageIntegritySha256, Buffer.alloc(36)))), /SHA256 length/],
    ['MESSAGE-INTEGRITY-SHA256 not a multiple of 4', () => decodeMessage(rawMessage(attr(AttributeType.MessageIntegritySha256, Buffer.alloc(18)))), /SHA256 length/],
    ['too many attributes', () => decodeMessage(rawMessage(Buffer.concat(Array.from({ length: 65 }, () => attr(0x8030, Buffer.alloc(0)))))), /more than 64 attributes/],
    ['address family 3', () => decodeXorAddress(Buffer.from('0003a147e112a643', 'hex'), TXID), /unknown address family/],
    ['IPv4 address of 6 bytes', () => decodeAddress(Buffer.from('00011234c0000201', 'hex').subarray(0, 6)), /must be 8 bytes/],
    ['IPv6 address of 8 bytes', () => decodeAddress(Buffer.from('00021234c0000201', 'hex')), /must be 20 bytes/],
    ['ERROR-CODE class 7', () => decodeErrorCode(Buffer.from('00000701', 'hex')), /out of range/],
    ['ERROR-CODE number 100', () => decodeErrorCode(Buffer.from('00000464', 'hex')), /out of range/],
    ['CHANGE-REQUEST of 2 bytes', () => decodeChangeRequest(Buffer.alloc(2)), /4 bytes/],
    ['RESPONSE-PORT of 2 bytes', () => decodeResponsePort(Buffer.alloc(2)), /4 bytes/],
    ['UNKNOWN-ATTRIBUTES odd length', () => decodeUnknownAttributes(Buffer.alloc(3)), /even/],
    ['SOFTWARE over 763 bytes', () => decodeText(Buffer.alloc(764), 763, 'SOFTWARE'), /longer than 763/],
    ['encoding a non-IP address', () => encodeAddress({ address: 'stun.example.com', port: 3478 }), /not an IP literal/],
    ['encoding port 65536', () => encodeAddress({ address: '127.0.0.1', port: 65536 }), /port out of range/],
    ['encoding a short transaction id', () => encodeMessage({ class: 'request', transactionId: Buffer.alloc(11) }), /transaction id/]
  ]
  for (const [name, fn, pattern] of cases) {
    it(name, () => { assertInvalid(fn, pattern) })
  }

  it('looksLikeStun rejects non-STUN datagrams', () => {
    assert.equal(looksLikeStun(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), false)
    assert.equal(looksLikeStun(Buffer.alloc(20)), false)
    assert.equal(looksLikeStun(rfc5769.request), true)
    assert.equal(looksLikeStun(rfc5769.request.subarray(0, 104)), false)
  })
})
