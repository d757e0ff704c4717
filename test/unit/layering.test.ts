/**
 * The layering rule (ARCHITECTURE.md), checked on every import in the shipped tree:
 * src/ imports nothing above it; relay/, worker/ and nat/ import only src/ and themselves;
 * only files under a component's bin/ compose components, and nothing imports a bin file.
 * eslint.config.js enforces the same rule while editing.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname
const LAYERS = ['src', 'relay', 'worker', 'nat'] as const

function tsFiles (dir: string): string[] {
  const abs = join(ROOT, dir)
  return readdirSync(abs).flatMap(name => {
    const p = join(abs, name)
    if (statSync(p).isDirectory()) return tsFiles(relative(ROOT, p))
    return name.endsWith('.ts') ? [relative(ROOT, p)] : []
  })
}

function importsOf (file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map(m => m[1] ?? '')
}

/** Repository path a relative import lands on, e.g. 'relay/cli.ts' for '../cli.ts' seen from relay/bin/. */
function target (file: string, spec: string): string | undefined {
  return spec.startsWith('.') ? relative(ROOT, join(ROOT, file, '..', spec)) : undefined
}

const isBin = (path: string): boolean => /^(relay|worker|nat)\/bin\//.test(path)

describe('module layering', () => {
  for (const layer of LAYERS) {
    const allowed = layer === 'src' ? ['src'] : ['src', layer]
    it(`${layer}/ (outside bin/) imports only ${allowed.map(d => `${d}/`).join(' and ')}`, () => {
      const files = tsFiles(layer).filter(f => !isBin(f))
      assert.ok(files.length > 0)
      for (const file of files) {
        for (const spec of importsOf(file)) {
          const to = target(file, spec)
          if (to === undefined) continue
          assert.ok(allowed.includes(to.split('/')[0] ?? ''), `${file} imports ${spec}`)
          assert.ok(!isBin(to), `${file} imports the entry point ${spec}`)
        }
      }
    })
  }

  it('bin/ entry points (the composers) import only shipped layers, never another bin', () => {
    const bins = LAYERS.flatMap(l => tsFiles(l)).filter(isBin)
    assert.ok(bins.length >= 4, `found ${bins.join(', ')}`)
    for (const file of bins) {
      for (const spec of importsOf(file)) {
        const to = target(file, spec)
        if (to === undefined) continue
        assert.ok((LAYERS as readonly string[]).includes(to.split('/')[0] ?? ''), `${file} imports ${spec}`)
        assert.ok(!isBin(to), `${file} imports the entry point ${spec}`)
      }
    }
  })
})
