/**
 * Entry point of the single executable (`npm run build:sea`): one binary, the package's CLIs.
 * `iicp-toolkit relay|worker|nat|connect …` runs that CLI; a copy or symlink named `iicp-relay`,
 * `iicp-worker`, `iicp-nat` or `iicp-connect` runs that one directly, like the npm package's bins.
 */
import { basename } from 'node:path'

const COMMANDS = ['relay', 'worker', 'nat', 'connect'] as const
type Command = typeof COMMANDS[number]

/** The command named by the program's name (`iicp-relay`) or by its first argument (`relay`). */
function pickCommand (): Command | undefined {
  const own = basename(process.argv0).replace(/\.exe$/i, '').replace(/^iicp-/, '')
  if ((COMMANDS as readonly string[]).includes(own)) return own as Command
  const first = process.argv[2]
  if (first !== undefined && (COMMANDS as readonly string[]).includes(first)) {
    process.argv.splice(2, 1) // the bins read process.argv.slice(2)
    return first as Command
  }
  return undefined
}

/** Loads the chosen bin, which runs its CLI (the bundle is CommonJS: no top-level await). */
async function run (command: Command | undefined): Promise<void> {
  if (command === 'relay') await import('../../relay/bin/iicp-relay.ts')
  else if (command === 'worker') await import('../../worker/bin/iicp-worker.ts')
  else if (command === 'nat') await import('../../nat/bin/iicp-nat.ts')
  else if (command === 'connect') await import('../../nat/bin/iicp-connect.ts')
  else {
    process.stderr.write('usage: iicp-toolkit relay|worker|nat|connect [options]   (or run it as iicp-relay, iicp-worker, iicp-nat, iicp-connect)\n')
    process.exitCode = 2
  }
}

run(pickCommand()).catch((err: unknown) => {
  process.stderr.write(`iicp-toolkit: ${(err as Error).message}\n`)
  process.exitCode = 1
})
