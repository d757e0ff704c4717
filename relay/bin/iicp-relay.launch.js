#!/usr/bin/env -S node --min-semi-space-size=8 --max-semi-space-size=8 --no-allocation-site-pretenuring
// The `iicp-relay` command (package.json "bin"): runs relay/bin/iicp-relay.ts in a checkout, its compiled
// dist/relay/bin/iicp-relay.js in the npm package (see src/cli/launch.js).
import { URL } from 'node:url'
import { launch } from '../../src/cli/launch.js'

await launch(new URL('./iicp-relay.ts', import.meta.url), new URL('../../dist/relay/bin/iicp-relay.js', import.meta.url), 'iicp-relay')
