#!/usr/bin/env node
/** `iicp-worker` entry point: see worker/cli.ts. */
import { runCli } from '../../src/cli/args.ts'
import { workerMain } from '../cli.ts'

runCli('iicp-worker', async argv => await workerMain(argv, process.env))
