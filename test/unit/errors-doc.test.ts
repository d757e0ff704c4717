import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ErrorCode, IicpCode } from '../../src/errors.ts'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('README error catalogue', () => {
  it('documents every ErrorCode and IicpCode', () => {
    for (const code of [...Object.values(ErrorCode), ...Object.values(IicpCode)]) {
      assert.ok(readme.includes(`\`${code}\``), `README does not document ${code}`)
    }
  })
  it('documents no code that does not exist', () => {
    const known = new Set<string>([...Object.values(ErrorCode), ...Object.values(IicpCode)])
    for (const [code] of readme.matchAll(/\b(?:ERR_[A-Z0-9_]+|IICP-E\d{3})\b/g)) {
      assert.ok(known.has(code), `README mentions unknown code ${code}`)
    }
  })
})
