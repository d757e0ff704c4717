/**
 * Installs from what operators get (issue 12, findings 3, 4, 5, 12), outside `npm test`
 * because it packs, installs and builds (tens of seconds): `npm run test:install`, run by CI.
 *
 * 1. `npm pack` (prepack builds dist/), then deploy/install.sh, the script the container image
 *    runs, into a temporary prefix with runtime dependencies only: the three CLIs start, a relay
 *    answers /iicp/health, strict mode without a key exits 2.
 * 2. The README examples run against that installed package on Node 24, on the newest Node 22 and
 *    on Node 22.12, the oldest the package supports (both fetched from the npm registry into
 *    build/ once; IICP_SKIP_NODE22=1 skips them).
 * 3. `npm run build:sea`: the single executable runs the three CLIs from an empty directory.
 * Sizes are printed as test diagnostics.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { OLDEST_NODE, TYPE_STRIPPING, node22Binary } from '../../helpers/node22.ts'
import { EXAMPLE_ENV, EXAMPLES, EXAMPLES_DIR } from '../../helpers/readme-examples.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const NODE_BIN = dirname(process.execPath)
/** PATH with the running (pinned) Node first, so npm and `#!/usr/bin/env node` use it. */
const ENV = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IICP_'))), PATH: `${NODE_BIN}:${process.env.PATH ?? ''}` }
const STEP_TIMEOUT_MS = 300_000

/** Total size in bytes of everything under `path` (files only, symlinks not followed). */
function sizeOf (path: string): number {
  const st = statSync(path, { throwIfNoEntry: false })
  if (st === undefined) return 0
  if (!st.isDirectory()) return st.size
  return readdirSync(path, { withFileTypes: true }).reduce((sum, e) => sum + (e.isSymbolicLink() ? 0 : sizeOf(join(path, e.name))), 0)
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`

/** Starts a relay command on ephemeral loopback ports, checks /iicp/health, stops it with SIGTERM. */
async function relayAnswersHealth (cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): Promise<void> {
  const child = spawn(cmd, [...args, '--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit')
  try {
    let out = ''
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8')
        if (out.includes('\n')) resolve(out)
      })
      child.once('exit', code => { reject(new Error(`relay exited with ${code}`)) })
    })
    const port = /http=http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1]
    assert.ok(port, line)
    const res = await fetch(`http://127.0.0.1:${port}/iicp/health`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { status: string }).status, 'ok')
  } finally {
    child.kill('SIGTERM')
    await exited
  }
}

/** Each installed command under `prefix` prints `<name> <semver>` for --version. */
async function cliVersionsPrint (prefix: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (const cli of ['iicp-relay', 'iicp-worker', 'iicp-nat', 'iicp-connect']) {
    const { stdout } = await run(join(prefix, 'bin', cli), ['--version'], { env, timeout: 30_000 })
    assert.match(stdout, new RegExp(`^${cli} \\d+\\.\\d+\\.\\d+\\n$`))
  }
}

/** Exit code and stderr of a command expected to fail. */
async function failing (cmd: string, args: string[]): Promise<{ code: number, stderr: string }> {
  try {
    await run(cmd, args, { env: ENV, timeout: 30_000 })
    return { code: 0, stderr: '' }
  } catch (err) {
    const e = err as { code: number, stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
}

describe('packed tarball installed by deploy/install.sh', () => {
  let work = ''
  let prefix = ''
  after(() => { if (work !== '') rmSync(work, { recursive: true, force: true }) })

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'iicp-install-'))
    prefix = join(work, 'prefix')
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, env: ENV, timeout: STEP_TIMEOUT_MS })
    const tarball = join(work, stdout.trim().split('\n').pop() ?? '')
    await run('sh', [join(ROOT, 'deploy/install.sh'), '--prefix', prefix, tarball], { env: { ...ENV, npm_config_prefer_offline: 'true' }, timeout: STEP_TIMEOUT_MS })
  })

  it('has no devDependencies, sources or source maps, and runs every CLI', async t => {
    const pkg = join(prefix, 'lib/node_modules/iicp-relay-toolkit')
    for (const dev of ['typescript', 'eslint', 'esbuild', 'postject', 'node']) assert.equal(existsSync(join(pkg, 'node_modules', dev)), false, dev)
    assert.equal(existsSync(join(pkg, 'relay/index.ts')), false)
    assert.ok(existsSync(join(pkg, 'LICENSE')))
    for (const f of ['deploy/install.sh', 'deploy/runbook.md', 'deploy/relay.toml.example', 'deploy/systemd/iicp-relay.service']) assert.ok(existsSync(join(pkg, f)), f)
    assert.equal(existsSync(join(pkg, 'deploy/sea')), false)
    const files = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' })
    assert.deepEqual(files(join(pkg, 'dist')).filter(f => f.endsWith('.map')), [])
    await cliVersionsPrint(prefix, ENV)
    t.diagnostic(`installed size (package and its runtime dependencies): ${mib(sizeOf(pkg))}`)
  })

  it('runs a relay that answers /iicp/health, and refuses strict mode without a key (exit 2)', async () => {
    await relayAnswersHealth(join(prefix, 'bin/iicp-relay'), [])
    const strict = await failing(join(prefix, 'bin/iicp-relay'), ['--require-ticket'])
    assert.equal(strict.code, 2)
    assert.match(strict.stderr, /^iicp-relay: --require-ticket needs --ticket-public-key/)
  })

  it('runs every CLI and a relay that answers /iicp/health on Node 22.12, the oldest Node the package supports', async t => {
    const oldest = await node22Binary(STEP_TIMEOUT_MS, OLDEST_NODE)
    if (oldest === undefined) {
      t.skip('IICP_SKIP_NODE22=1')
      return
    }
    // The commands' `#!/usr/bin/env node` finds the first node on PATH.
    const env = { ...ENV, PATH: `${dirname(oldest)}:${ENV.PATH}` }
    await cliVersionsPrint(prefix, env)
    await relayAnswersHealth(join(prefix, 'bin/iicp-relay'), [], env)
    t.diagnostic(`CLIs ran on Node ${(await run(oldest, ['--version'])).stdout.trim()}`)
  })

  it('runs the README examples against the installed package on Node 24, the newest Node 22 and Node 22.12', async t => {
    const dir = join(work, 'examples')
    mkdirSync(join(dir, 'node_modules'), { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
    symlinkSync(join(prefix, 'lib/node_modules/iicp-relay-toolkit'), join(dir, 'node_modules/iicp-relay-toolkit'))
    // The pinned Node 24, the newest 22.x, and the oldest Node the package supports.
    const nodes = [process.execPath, await node22Binary(STEP_TIMEOUT_MS), await node22Binary(STEP_TIMEOUT_MS, OLDEST_NODE)].filter(n => n !== undefined)
    if (nodes.length === 1) t.diagnostic('Node 22 skipped (IICP_SKIP_NODE22=1)')
    for (const node of nodes) {
      const { stdout: version } = await run(node, ['--version'])
      for (const [file, expected] of Object.entries(EXAMPLES)) {
        copyFileSync(new URL(file, EXAMPLES_DIR), join(dir, file))
        // Node before 22.18 strips the example's types only when asked; the package itself is JavaScript.
        const { stdout } = await run(node, [...TYPE_STRIPPING, join(dir, file)], { cwd: dir, env: { ...ENV, ...EXAMPLE_ENV }, timeout: 60_000 })
        assert.match(stdout, expected, `${file} on ${version.trim()}`)
      }
      t.diagnostic(`README examples ran on Node ${version.trim()}`)
    }
  })
})

describe('single executable (npm run build:sea)', () => {
  let work = ''
  after(() => { if (work !== '') rmSync(work, { recursive: true, force: true }) })

  it('runs every CLI and a relay from a directory without node_modules', async t => {
    work = mkdtempSync(join(tmpdir(), 'iicp-sea-'))
    await run('npm', ['run', '--silent', 'build:sea'], { cwd: ROOT, env: ENV, timeout: STEP_TIMEOUT_MS })
    const built = readdirSync(join(ROOT, 'build/sea')).find(f => f.startsWith('iicp-toolkit-'))
    assert.ok(built)
    const exe = join(work, 'iicp-toolkit')
    copyFileSync(join(ROOT, 'build/sea', built), exe)
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
    for (const cli of ['relay', 'worker', 'nat', 'connect']) {
      const { stdout } = await run(exe, [cli, '--version'], { cwd: work, env: ENV, timeout: 30_000 })
      assert.equal(stdout, `iicp-${cli} ${version}\n`)
      symlinkSync(exe, join(work, `iicp-${cli}`))
      const { stdout: byName } = await run(join(work, `iicp-${cli}`), ['--version'], { cwd: work, env: ENV, timeout: 30_000 })
      assert.equal(byName, `iicp-${cli} ${version}\n`)
    }
    await relayAnswersHealth(exe, ['relay'])
    assert.equal((await failing(exe, ['relay', '--require-ticket'])).code, 2)
    assert.equal(existsSync(join(work, 'node_modules')), false)
    t.diagnostic(`single executable: ${mib(statSync(exe).size)}`)
  })
})
