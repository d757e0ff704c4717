#!/usr/bin/env node
/** `iicp-nat`: the measuring NAT probe. All logic lives in nat/cli.ts. */
import { runCli } from '../../src/cli/args.ts'
import { natMain } from '../cli.ts'

runCli('iicp-nat', async argv => await natMain(argv, process.env))
