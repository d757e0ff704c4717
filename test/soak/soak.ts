/**
 * `npm run soak`: the issue 7 campaign against a relay in a child process on loopback. Prints
 * one line of figures per phase. Flags: --callers-seconds N (default 60; the issue asks 600),
 * --fuzz-frames N (default 1000000), --seed N, --only PHASE[,PHASE] (fuzz, decode, decode512,
 * partial, relay-slowloris, http-slowloris, callers, idle).
 */
import { parseArgs } from 'node:util'
import { decodeAttack, httpSlowloris, partialFrameAttack, relaySlowloris } from './attacks.ts'
import { callers, fuzz, idleSessions } from './load.ts'

const { values } = parseArgs({
  options: {
    'callers-seconds': { type: 'string', default: '60' },
    'fuzz-frames': { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '7' },
    only: { type: 'string' }
  }
})
const only = values.only?.split(',')
const phases: Array<[string, () => Promise<string>]> = [
  ['fuzz', async () => await fuzz(Number(values['fuzz-frames']), 32, Number(values.seed))],
  ['decode', async () => [await decodeAttack(1), await decodeAttack(1, [], () => 'map'), await decodeAttack(4)].join('\n')],
  ['decode512', async () => [await decodeAttack(1, ['--max-old-space-size=512']), await decodeAttack(4, ['--max-old-space-size=512'])].join('\n')],
  ['partial', partialFrameAttack],
  ['relay-slowloris', async () => await relaySlowloris(10)],
  ['http-slowloris', async () => await httpSlowloris(4500, 300)],
  ['callers', async () => await callers(1000, Number(values['callers-seconds']), 8)],
  ['idle', async () => await idleSessions(10_000)]
]
console.log(`soak: node ${process.version}, ${new Date().toISOString()} (loopback; the machine's CPU is shared, figures are taken under contention)`)
for (const [name, run] of phases) {
  if (only !== undefined && !only.includes(name)) continue
  const start = performance.now()
  try {
    console.log(`${await run()}  [${((performance.now() - start) / 1000).toFixed(0)} s]`)
  } catch (err) {
    console.log(`${name}: FAILED ${(err as Error).stack ?? String(err)}`)
    process.exitCode = 1
  }
}
