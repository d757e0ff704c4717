/**
 * Manual NAT lab: build one topology, print how to poke at it, keep it up until Ctrl-C.
 *
 *   npx node test/lab/run-lab.ts up <topology> [--no-stun] [--no-reflector] [--no-coturn]
 *   npx node test/lab/run-lab.ts down <prefix>      # teardown of a lab whose `up` process died
 *   npx node test/lab/run-lab.ts list               # topologies, and lab namespaces present
 *
 * Root only. `up` tears everything down on SIGINT/SIGTERM. `down` kills the processes running in
 * the namespaces named `<prefix>*` (`ip netns pids`), deletes those namespaces and the lab's scratch
 * directory (`$TMPDIR/<prefix>*`), nothing else.
 */
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLab } from './lab.ts'
import { COMMAND_TIMEOUT_MS } from './namespaces.ts'
import { run, runOk } from './processes.ts'
import { TOPOLOGY_NAMES, isTopologyName } from './topologies.ts'

const USAGE = `usage: run-lab.ts up <topology> [--no-stun] [--no-reflector] [--no-coturn]
       run-lab.ts down <prefix>
       run-lab.ts list
topologies: ${TOPOLOGY_NAMES.join(', ')}
`

async function labNamespaces (): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list'], { timeoutMs: COMMAND_TIMEOUT_MS })
  return out.split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n.startsWith('iicplab-'))
}

async function up (name: string, flags: { stun: boolean, reflector: boolean, coturn: boolean }): Promise<void> {
  if (!isTopologyName(name)) throw new Error(`unknown topology ${name}\n${USAGE}`)
  const lab = await createLab({ stun: flags.stun, reflector: flags.reflector, coturn: flags.coturn })
  let closed = false
  const shutdown = (): void => {
    if (closed) return
    closed = true
    process.stdout.write('\ntearing down…\n')
    lab.close().then(() => { process.stdout.write('lab removed\n') }, (err: unknown) => {
      process.stderr.write(`teardown failed: ${(err as Error).message}\n`)
      process.exitCode = 1
    })
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  try {
    const t = await lab.addTopology(name)
    const x = (ns: string): string => `ip netns exec ${ns}`
    process.stdout.write(`topology ${t.name}: ${t.description}
prefix        ${lab.prefix}
internet ns   ${lab.inetNs}  (11.0.0.1, 11.0.0.2 STUN; 11.0.0.3 reflector; 11.0.0.4 "internet host"; 2a00:11::1-4 likewise)
router ns     ${t.routerNs.join(' ')}
client ns     ${t.clientNs}  (${t.clientV4}${t.clientV6 === undefined ? '' : `, ${t.clientV6}`}; seen from the internet as ${t.publicV4})
our STUN      ${lab.stun ?? '(not started)'}     coturn ${lab.coturn ?? '(not started)'}     reflector ${lab.reflectorUrl ?? '(not started)'}
ground truth  ${JSON.stringify(t.truth)}

try:
  ${x(t.clientNs)} turnutils_natdiscovery -m -p 4478 11.0.0.1
  ${t.routerNs.map(r => `${x(r)} conntrack -F`).join('; ')}; ${x(t.clientNs)} turnutils_natdiscovery -f -p 4478 11.0.0.1
  ${x(t.clientNs)} ${process.execPath} nat/bin/iicp-nat.ts probe --json --stun ${lab.stun ?? '11.0.0.1:3478'} --reflector ${lab.reflectorUrl ?? 'http://11.0.0.3:8080'}${t.clientV6 === undefined ? ' --no-v6' : ` --reflector ${lab.reflectorUrlV6 ?? 'http://[2a00:11::3]:8080'}`}${t.miniupnpd === undefined ? '' : ' [--map]'}
  ${x(t.routerNs[0] ?? '')} nft list ruleset
${t.igdUrl === undefined ? '' : `  ${x(t.clientNs)} upnpc -u ${t.igdUrl} -l ; ${x(t.clientNs)} natpmpc -g ${t.gatewayV4}\n`}
Ctrl-C tears the lab down (or: npx node test/lab/run-lab.ts down ${lab.prefix})
`)
  } catch (err) {
    shutdown()
    throw err
  }
}

async function down (prefix: string): Promise<void> {
  if (!/^iicplab-[a-z0-9-]+-$/.test(prefix)) throw new Error(`prefix must look like iicplab-<pid>-<rand>-: ${prefix}`)
  const mine = (await labNamespaces()).filter(n => n.startsWith(prefix))
  for (const ns of mine) {
    const pids = (await runOk('ip', ['netns', 'pids', ns], { timeoutMs: COMMAND_TIMEOUT_MS })).split('\n').map(Number).filter(p => p > 0)
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
    }
  }
  for (const ns of mine.reverse()) {
    const r = await run('ip', ['netns', 'del', ns], { timeoutMs: COMMAND_TIMEOUT_MS })
    process.stdout.write(r.code === 0 ? `deleted ${ns}\n` : `could not delete ${ns}: ${r.stderr}`)
  }
  if (mine.length === 0) process.stdout.write(`no namespace starts with ${prefix}\n`)
  for (const dir of readdirSync(tmpdir()).filter(d => d.startsWith(prefix))) {
    rmSync(join(tmpdir(), dir), { recursive: true, force: true })
    process.stdout.write(`removed ${join(tmpdir(), dir)}\n`)
  }
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'no-stun': { type: 'boolean' }, 'no-reflector': { type: 'boolean' }, 'no-coturn': { type: 'boolean' }, help: { type: 'boolean' } }
})
const [cmd, arg] = positionals
try {
  if (values.help === true || cmd === undefined) process.stdout.write(USAGE)
  else if (cmd === 'up' && arg !== undefined) await up(arg, { stun: values['no-stun'] !== true, reflector: values['no-reflector'] !== true, coturn: values['no-coturn'] !== true })
  else if (cmd === 'down' && arg !== undefined) await down(arg)
  else if (cmd === 'list') process.stdout.write(`topologies: ${TOPOLOGY_NAMES.join(', ')}\nlab namespaces present: ${(await labNamespaces()).join(' ') || '(none)'}\n`)
  else throw new Error(USAGE)
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
}
