/**
 * Builds the single executable (`npm run build:sea`): esbuild bundles deploy/sea/entry.ts and
 * every runtime dependency into one CommonJS file, Node's single-executable-application
 * support turns it into a blob, and postject injects the blob into a copy of the running
 * `node` binary. Output: `build/sea/iicp-toolkit-<platform>-<arch>` (+ `.exe` on Windows).
 *
 * Native addons cannot live inside the blob: `node-datachannel` is replaced by a stub that
 * throws a clear error, so features needing it are unavailable in the single executable.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { inject } from 'postject'

const ROOT = resolve(import.meta.dirname, '../..')
const OUT_DIR = join(ROOT, 'build/sea')
/** Node's documented sentinel for the SEA blob resource. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
/** Native addons that cannot be bundled into the blob. */
const NATIVE_MODULES = ['node-datachannel']

/**
 * Replaces each native module by a stand-in whose every export is a function that throws a
 * clear error when called or constructed, so the CLIs load and only the feature fails.
 */
const stubNativeModules: Plugin = {
  name: 'stub-native-modules',
  setup (b) {
    const filter = new RegExp(`^(${NATIVE_MODULES.join('|')})(/.*)?$`)
    b.onResolve({ filter }, args => ({ path: args.path, namespace: 'native-stub' }))
    b.onLoad({ filter: /.*/, namespace: 'native-stub' }, args => {
      const message = `${args.path} is a native addon and is not part of the single executable; install the npm package (deploy/install.sh) for this feature`
      return {
        contents: `const unavailable = function () { throw new Error(${JSON.stringify(message)}) }
module.exports = new Proxy({}, { get: (_target, key) => key === '__esModule' || typeof key === 'symbol' ? undefined : unavailable })`,
        loader: 'js'
      }
    })
  }
}

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const name = `iicp-toolkit-${process.platform}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`
rmSync(OUT_DIR, { recursive: true, force: true })
mkdirSync(OUT_DIR, { recursive: true })
const bundle = join(OUT_DIR, 'main.cjs')
await build({
  entryPoints: [join(ROOT, 'deploy/sea/entry.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  define: { IICP_TOOLKIT_VERSION: JSON.stringify(version) },
  plugins: [stubNativeModules],
  legalComments: 'eof',
  // src/version.ts reads import.meta.url only when the version was not defined, which it is here.
  logOverride: { 'empty-import-meta': 'silent' },
  logLevel: 'warning'
})
const blob = join(OUT_DIR, 'sea-prep.blob')
const config = join(OUT_DIR, 'sea-config.json')
writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }))
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' })
const exe = join(OUT_DIR, name)
copyFileSync(process.execPath, exe)
chmodSync(exe, 0o755)
await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: SEA_FUSE,
  ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {})
})
rmSync(blob)
rmSync(config)
process.stdout.write(`${exe} (${(statSync(exe).size / 1048576).toFixed(1)} MiB, Node ${process.version})\n`)
