#!/usr/bin/env node
/** `iicp-worker` entry point: see worker/cli.ts. */
import { runCli } from './args.ts'
import { workerMain } from '../../worker/cli.ts'

runCli('iicp-worker', async argv => await workerMain(argv, process.env))
