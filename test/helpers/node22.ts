/** Test helper: a Node 22 binary for the checks that library code and examples run there. */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The `node` package's Node 22 from the npm registry, installed into `build/node22` on first
 * use (with the running Node's npm first on PATH); undefined when IICP_SKIP_NODE22=1.
 */
export async function node22Binary (timeoutMs: number): Promise<string | undefined> {
  if (process.env.IICP_SKIP_NODE22 === '1') return undefined
  const dir = join(ROOT, 'build/node22')
  const bin = join(dir, 'node_modules/node/bin/node')
  if (!existsSync(bin)) {
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
    await promisify(execFile)('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', 'node@22'], { env, timeout: timeoutMs })
  }
  return bin
}
