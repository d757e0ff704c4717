#!/usr/bin/env node
// The `iicp-connect` command (package.json "bin"): runs nat/bin/iicp-connect.ts in a checkout, its compiled
// dist/nat/bin/iicp-connect.js in the npm package (see src/cli/launch.js).
import { URL } from 'node:url'
import { launch } from '../../src/cli/launch.js'

await launch(new URL('./iicp-connect.ts', import.meta.url), new URL('../../dist/nat/bin/iicp-connect.js', import.meta.url), 'iicp-connect')
