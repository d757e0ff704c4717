#!/usr/bin/env node
/** `iicp-connect` entry point: see nat/connect/cli.ts. */
import { runCli } from '../../src/cli/args.ts'
import { connectMain } from '../connect/cli.ts'

runCli('iicp-connect', async argv => await connectMain(argv, process.env))
