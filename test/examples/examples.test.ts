/**
 * The README's library examples are the files in test/examples/: `npm run typecheck` checks
 * them against the package's own entry points (tsconfig `paths`), this test checks that the
 * README shows each of them verbatim (and no other TypeScript block), and runs each one with
 * the running Node against the sources. CI also runs them against the installed tarball on
 * Node 22 and 24 (test/ops/slow/package-install.ts).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { EXAMPLE_ENV, EXAMPLES } from '../helpers/readme-examples.ts'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url)
const DIR = new URL('./', import.meta.url)

/** The ```ts blocks of the README. */
function readmeBlocks (): string[] {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8')
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1] ?? '')
}

describe('README library examples', () => {
  const files = readdirSync(DIR).filter(f => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()

  it('every example file has an expected output, and the README shows exactly these files', () => {
    assert.deepEqual(files, Object.keys(EXAMPLES).sort())
    const blocks = readmeBlocks()
    const texts = files.map(f => readFileSync(new URL(f, DIR), 'utf8'))
    for (const [i, text] of texts.entries()) assert.ok(blocks.includes(text), `README shows ${files[i]} verbatim`)
    for (const block of blocks) assert.ok(texts.includes(block), `README TypeScript block is one of test/examples/*.ts:\n${block}`)
  })

  // Run against the sources: the package specifiers are rewritten to the entry points' files.
  const entry = (sub: string): string => new URL(sub === '' ? 'src/index.ts' : `${sub}/index.ts`, ROOT).href
  for (const file of Object.keys(EXAMPLES)) {
    it(`${file} runs and prints what it says`, async t => {
      const dir = mkdtempSync(join(tmpdir(), 'iicp-example-'))
      t.after(() => { rmSync(dir, { recursive: true, force: true }) })
      const source = readFileSync(new URL(file, DIR), 'utf8')
        .replace(/from 'iicp-relay-toolkit(?:\/(relay|worker|nat))?'/g, (_m, sub: string | undefined) => `from '${entry(sub ?? '')}'`)
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
      writeFileSync(join(dir, file), source)
      const { stdout } = await run(process.execPath, [join(dir, file)], { env: { ...process.env, ...EXAMPLE_ENV }, timeout: 30_000 })
      assert.match(stdout, EXAMPLES[file] ?? /^$/)
    })
  }
})
