#!/usr/bin/env node
/** `iicp-worker` entry point: see worker/cli.ts, and worker/reach/cli.ts for `--auto` (NAT capabilities from nat/). */
import { runCli } from '../../src/cli/args.ts'
import { applyGcHeadroom } from '../../src/cli/gc-headroom.ts'
import { workerMain } from '../cli.ts'
import { autoMain } from '../reach/cli.ts'
import { natCapabilities } from '../../nat/reach-capabilities.ts'

applyGcHeadroom()
runCli('iicp-worker', async argv => argv.includes('--auto')
  ? await autoMain(argv, process.env, natCapabilities)
  : await workerMain(argv, process.env))
