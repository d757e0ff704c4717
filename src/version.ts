/** The package version from package.json, read once: `--version` of every CLI and the relay's health endpoint. */
import { readFileSync } from 'node:fs'

/** Set by the single-executable bundle (esbuild `define`, deploy/sea/build.ts), which has no package.json beside it. */
declare const IICP_TOOLKIT_VERSION: string | undefined

/** Reads the version from package.json: src/version.ts runs from the source tree (../) or from dist/src (../../). */
function readPackageVersion (): string {
  const packageJson = import.meta.url.includes('/dist/src/') ? '../../package.json' : '../package.json'
  return (JSON.parse(readFileSync(new URL(packageJson, import.meta.url), 'utf8')) as { version: string }).version
}

/** The toolkit's version. */
export const VERSION: string = typeof IICP_TOOLKIT_VERSION === 'string' ? IICP_TOOLKIT_VERSION : readPackageVersion()
