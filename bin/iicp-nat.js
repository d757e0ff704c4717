#!/usr/bin/env node
// `iicp-nat`: runs nat/bin/iicp-nat (compiled in the npm package, from source in a checkout; see launch.js).
import { launch } from './launch.js'

await launch('nat', 'iicp-nat')
