/** The structural CBOR pre-scan (src/protocol/cbor-scan.ts) on a payload's first bytes only. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { DEFAULT_CBOR_LIMITS, encodeCbor } from '../../src/protocol/cbor.ts'
import { PREFIX_ENDED, scanCborItem } from '../../src/protocol/cbor-scan.ts'

describe('scanCborItem on a prefix', () => {
  const payload = encodeCbor(new Map<number, unknown>([[5, new Uint8Array(100_000)], [15, 'call-1']]))

  it('says the prefix ended (no error) when a large map runs past it, and scans the whole payload to its end', () => {
    assert.equal(scanCborItem(payload.subarray(0, 1000), 0, DEFAULT_CBOR_LIMITS, payload.length), PREFIX_ENDED)
    assert.equal(scanCborItem(payload, 0, DEFAULT_CBOR_LIMITS), payload.length)
  })

  it('still refuses a payload that is itself cut short as truncated', () => {
    assert.throws(() => scanCborItem(payload.subarray(0, 1000), 0, DEFAULT_CBOR_LIMITS), (e: unknown) => isToolkitError(e, ErrorCode.CborInvalid) && (e.details as { reason?: string }).reason === 'truncated')
  })
})
