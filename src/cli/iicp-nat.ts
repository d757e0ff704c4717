#!/usr/bin/env node
/** `iicp-nat`: the measuring NAT probe. All logic lives in src/cli/nat-main.ts. */
import { runCli } from './args.ts'
import { natMain } from './nat-main.ts'

runCli('iicp-nat', async argv => await natMain(argv, process.env))
