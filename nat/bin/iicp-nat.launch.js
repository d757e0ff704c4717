#!/usr/bin/env node
// The `iicp-nat` command (package.json "bin"): runs nat/bin/iicp-nat.ts in a checkout, its compiled
// dist/nat/bin/iicp-nat.js in the npm package (see src/cli/launch.js).
import { URL } from 'node:url'
import { launch } from '../../src/cli/launch.js'

await launch(new URL('./iicp-nat.ts', import.meta.url), new URL('../../dist/nat/bin/iicp-nat.js', import.meta.url), 'iicp-nat')
