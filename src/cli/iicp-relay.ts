#!/usr/bin/env node
/** `iicp-relay`: the public relay-accept server. All logic lives in relay/relay-cli.ts. */
import { relayMain } from '../../relay/relay-cli.ts'
import { runCli } from './args.ts'

runCli('iicp-relay', async argv => await relayMain(argv, process.env))
