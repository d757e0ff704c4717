#!/usr/bin/env node
// `iicp-connect`: runs nat/bin/iicp-connect (compiled in the npm package, from source in a checkout; see launch.js).
import { launch } from './launch.js'

await launch('nat', 'iicp-connect')
