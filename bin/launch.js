// Shared by the bin/ launchers. The npm package ships dist/ and no sources: run the compiled CLI.
// A git checkout has no dist/ (nothing is built on install): run the TypeScript source, with the
// running Node when it strips types (22.18+, 24) or else with the pinned Node 24 from `npm ci`.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

/** Runs `<dir>/bin/<cli>`: from dist/, from source, or from source under the pinned Node. */
export async function launch (dir, cli) {
  const source = new URL(`../${dir}/bin/${cli}.ts`, import.meta.url)
  if (!existsSync(source)) return await import(new URL(`../dist/${dir}/bin/${cli}.js`, import.meta.url).href)
  if (process.features.typescript) return await import(source.href)
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url))
  if (!existsSync(pinned)) {
    process.stderr.write(`${cli}: node ${process.version} cannot run the TypeScript sources of a checkout; run npm ci first (it brings Node 24)\n`)
    process.exit(1)
  }
  const child = spawn(pinned, [fileURLToPath(source), ...process.argv.slice(2)], { stdio: 'inherit' })
  const forward = signal => { child.kill(signal) }
  process.on('SIGTERM', forward)
  process.on('SIGINT', forward)
  child.on('exit', (code, signal) => {
    process.off('SIGTERM', forward)
    process.off('SIGINT', forward)
    if (signal === null) process.exitCode = code ?? 1
    else process.kill(process.pid, signal) // die the same way the CLI did
  })
}
