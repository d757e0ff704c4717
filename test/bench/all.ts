/**
 * `npm run bench`: the relay bench (test/bench/relay-bench.ts), then the worker-transport bench
 * and the direct-channel bench, one after another. Flags go to the relay bench (`--runs N`,
 * `--load …`, `--cpu-prof DIR`, `--json`); with `--json` the output is one JSON document
 * `{ "relay": …, "transports": … }` and the direct-channel bench, which prints text only, writes
 * its table to stderr.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const json = args.includes('--json')

/** Runs one bench script with the same Node; resolves with its stdout when `capture` is set. */
async function run (script: string, scriptArgs: string[], capture: boolean): Promise<string> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...scriptArgs], {
    stdio: ['ignore', capture ? 'pipe' : json ? 2 : 'inherit', 'inherit']
  })
  const chunks: Buffer[] = []
  child.stdout?.on('data', (c: Buffer) => { chunks.push(c) })
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  if (code !== 0) throw new Error(`${script} exited with ${code}`)
  return Buffer.concat(chunks).toString('utf8')
}

const relay = await run('./relay-bench.ts', args, json)
const transports = await run('./transport-bench.ts', json ? ['--json'] : [], json)
await run('./direct-bench.ts', [], false)
if (json) process.stdout.write(JSON.stringify({ relay: JSON.parse(relay) as unknown, transports: JSON.parse(transports) as unknown }) + '\n')
