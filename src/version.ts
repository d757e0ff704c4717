/** The package version from package.json, read once: `--version` of every CLI and the relay's health endpoint. */
import { readFileSync } from 'node:fs'

// src/version.ts runs from the source tree (../package.json) or from dist/src (../../package.json).
const PACKAGE_JSON = import.meta.url.includes('/dist/src/') ? '../../package.json' : '../package.json'

/** The toolkit's version. */
export const VERSION: string = (JSON.parse(readFileSync(new URL(PACKAGE_JSON, import.meta.url), 'utf8')) as { version: string }).version
