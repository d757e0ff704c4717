import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname

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

/** Top-level module a relative import lands in, e.g. 'relay' for '../relay/x.ts' seen from worker/. */
function landsIn (file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined
  const target = relative(ROOT, join(ROOT, file, '..', spec))
  return target.split('/')[0]
}

describe('module layering', () => {
  const rules: Record<string, string[]> = {
    relay: ['worker', 'nat'],
    worker: ['relay', 'nat'],
    nat: ['relay', 'worker']
  }
  for (const [dir, banned] of Object.entries(rules)) {
    it(`${dir}/ imports only from src/ and itself`, () => {
      for (const file of tsFiles(dir)) {
        for (const spec of importsOf(file)) {
          const top = landsIn(file, spec)
          assert.ok(top === undefined || !banned.includes(top), `${file} imports ${spec}`)
        }
      }
    })
  }
  it('src/ core (outside src/cli) imports none of relay/, worker/, nat/', () => {
    for (const file of tsFiles('src').filter(f => !f.startsWith('src/cli/'))) {
      for (const spec of importsOf(file)) {
        const top = landsIn(file, spec)
        assert.ok(top === undefined || top === 'src', `${file} imports ${spec}`)
      }
    }
  })
})
