/** Test helper: a Node 22 binary for the checks that library code and examples run there. */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Flags that make any supported Node strip TypeScript types (Node 22.18 and newer do it without them). */
export const TYPE_STRIPPING = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning']

/** The oldest Node the package supports: package.json's `engines.node` (`>=22.12`) as a version (`22.12.0`). */
export const OLDEST_NODE = oldestNode()

function oldestNode (): string {
  const range = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
  const m = /^>=(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range)
  if (m === null) throw new Error(`package.json engines.node is not a plain >= range: ${range}`)
  return `${m[1] ?? ''}.${m[2] ?? ''}.${m[3] ?? '0'}`
}

/**
 * The `node` package's Node `version` from the npm registry (default: the newest 22.x),
 * installed into `build/node<version>` on first use (with the running Node's npm first on
 * PATH); undefined when IICP_SKIP_NODE22=1.
 */
export async function node22Binary (timeoutMs: number, version = '22'): Promise<string | undefined> {
  if (process.env.IICP_SKIP_NODE22 === '1') return undefined
  const dir = join(ROOT, `build/node${version}`)
  const bin = join(dir, 'node_modules/node/bin/node')
  if (!existsSync(bin)) {
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
    await promisify(execFile)('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', `node@${version}`], { env, timeout: timeoutMs })
  }
  return bin
}
