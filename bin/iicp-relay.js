#!/usr/bin/env node
// `iicp-relay`: runs relay/bin/iicp-relay (compiled in the npm package, from source in a checkout; see launch.js).
import { launch } from './launch.js'

await launch('relay', 'iicp-relay')
