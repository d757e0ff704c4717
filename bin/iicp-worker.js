#!/usr/bin/env node
// `iicp-worker`: runs worker/bin/iicp-worker (compiled in the npm package, from source in a checkout; see launch.js).
import { launch } from './launch.js'

await launch('worker', 'iicp-worker')
