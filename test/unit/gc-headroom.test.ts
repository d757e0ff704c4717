/** Unit tests: the GC headroom the relay and worker CLIs apply at start-up (src/cli/gc-headroom.ts). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { EXTERNAL_MEMORY_FLAG, GC_HEAP_GROWING_PERCENT, YOUNG_GENERATION_FLAGS, applyGcHeadroom, gcHeadroomWanted, hasExternalMemoryFlag } from '../../src/cli/gc-headroom.ts'

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

  it('sets the flags in a running process without complaint (their effect is measured by npm run bench)', () => {
    assert.equal(applyGcHeadroom([], {}), true)
  })

  it('counts Buffers in the global limit only on a V8 that has the flag (13.6, Node 24), which takes it from the command line too', () => {
    assert.equal(hasExternalMemoryFlag('13.6.233.17-node.53'), true)
    assert.equal(hasExternalMemoryFlag('14.1.0'), true)
    assert.equal(hasExternalMemoryFlag('13.5.1'), false)
    assert.equal(hasExternalMemoryFlag('12.4.254.21-node.33'), false)
    // The version test agrees with the node running the tests: it takes the flag exactly when the test says it has it.
    let taken: boolean
    try {
      taken = execFileSync(process.execPath, [EXTERNAL_MEMORY_FLAG, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) === 'ok'
    } catch {
      taken = false
    }
    assert.equal(taken, hasExternalMemoryFlag(process.versions.v8))
  })

  it('starts iicp-relay and iicp-worker with a fixed young generation: their shims\' #! line carries the flags, and node takes them', () => {
    for (const shim of ['../../relay/bin/iicp-relay.launch.js', '../../worker/bin/iicp-worker.launch.js']) {
      const first = readFileSync(new URL(shim, import.meta.url), 'utf8').split('\n')[0]
      assert.equal(first, `#!/usr/bin/env -S node ${YOUNG_GENERATION_FLAGS.join(' ')}`, shim)
    }
    const probe = "const v8 = require('node:v8'); process.stdout.write(String(v8.getHeapSpaceStatistics().find(s => s.space_name === 'new_space').space_size))"
    // A new space of 8 MiB from the start (V8's default starts at 1 MiB and resizes).
    assert.equal(Number(execFileSync(process.execPath, [...YOUNG_GENERATION_FLAGS, '-e', probe], { encoding: 'utf8' })), 8 * 1024 * 1024)
  })
})
