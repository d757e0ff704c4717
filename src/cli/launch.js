// The package's bin shims call this. The npm package ships dist/ and no sources: run the compiled CLI.
// A git checkout has no dist/ (nothing is built on install): run the TypeScript source, with the
// running Node when it strips types (22.18+, 24) or else with the pinned Node 24 from `npm ci`.
// Generic on purpose: it is handed the two URLs by the shim in <component>/bin/, so src/ names
// no component (the layering rule).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

/**
 * Runs a CLI from its TypeScript `source` in a checkout, or its `compiled` file in the package.
 * @param {URL} source the entry's .ts file (exists only in a checkout)
 * @param {URL} compiled the entry's compiled .js file under dist/ (exists in the package)
 * @param {string} cli the command's name, for the one-line error
 */
export async function launch (source, compiled, cli) {
  if (!existsSync(source)) return await import(compiled.href)
  if (process.features.typescript) return await import(source.href)
  const pinned = fileURLToPath(new URL('../../node_modules/node/bin/node', import.meta.url))
  if (!existsSync(pinned)) {
    process.stderr.write(`${cli}: node ${process.version} cannot run the TypeScript sources of a checkout; run npm ci first (it brings Node 24)\n`)
    process.exit(1)
  }
  // The Node flags this process started with (a shim's `#!` line) go along.
  const child = spawn(pinned, [...process.execArgv, fileURLToPath(source), ...process.argv.slice(2)], { stdio: 'inherit' })
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
