#!/usr/bin/env -S node --min-semi-space-size=8 --max-semi-space-size=8 --no-allocation-site-pretenuring
// The `iicp-worker` command (package.json "bin"): runs worker/bin/iicp-worker.ts in a checkout, its compiled
// dist/worker/bin/iicp-worker.js in the npm package (see src/cli/launch.js).
import { URL } from 'node:url'
import { launch } from '../../src/cli/launch.js'

await launch(new URL('./iicp-worker.ts', import.meta.url), new URL('../../dist/worker/bin/iicp-worker.js', import.meta.url), 'iicp-worker')
