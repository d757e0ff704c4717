/** Unit tests: the GC headroom the relay and worker CLIs apply at start-up (src/cli/gc-headroom.ts). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GC_HEAP_GROWING_PERCENT, applyGcHeadroom, gcHeadroomWanted } from '../../src/cli/gc-headroom.ts'

describe('GC headroom of the relay and worker CLIs', () => {
  it('applies by default, and not when the operator chose a growing factor or turned it off', () => {
    assert.equal(GC_HEAP_GROWING_PERCENT, 300)
    assert.equal(gcHeadroomWanted([], {}), true)
    assert.equal(gcHeadroomWanted(['--heap-growing-percent=150'], {}), false)
    assert.equal(gcHeadroomWanted(['--heap_growing_percent=150'], {}), false)
    assert.equal(gcHeadroomWanted(['--max-old-space-size=512'], {}), true)
    assert.equal(gcHeadroomWanted([], { IICP_GC_HEADROOM: 'off' }), false)
    assert.equal(applyGcHeadroom(['--heap-growing-percent=150'], {}), false)
  })

  it('sets the flag in a running process without complaint (its effect is measured by npm run bench)', () => {
    assert.equal(applyGcHeadroom([], {}), true)
  })
})
