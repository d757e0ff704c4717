/** The package version, reported by the relay's health endpoint. */
import { readFileSync } from 'node:fs'

// relay/version.ts runs from the source tree (../package.json) or from dist/relay (../../package.json).
const PACKAGE_JSON = import.meta.url.includes('/dist/relay/') ? '../../package.json' : '../package.json'

/** The toolkit's version from package.json. */
export const RELAY_VERSION: string = (JSON.parse(readFileSync(new URL(PACKAGE_JSON, import.meta.url), 'utf8')) as { version: string }).version
