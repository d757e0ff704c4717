/**
 * Network namespaces for the NAT lab. Every namespace carries this run's unique prefix
 * (`iicplab-<pid>-<rand>-`), is recorded when created, and teardown deletes exactly the
 * recorded names. Namespaces only ever get veth links to other lab namespaces.
 */
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { inNs, run, runOk } from './processes.ts'

/** Deadline for one `ip`/`nft`/`sysctl`/`conntrack` command. */
export const COMMAND_TIMEOUT_MS = 5000

/** A fresh prefix for this run: `iicplab-<pid>-<4 hex>-`. */
export function labPrefix (): string {
  return `iicplab-${process.pid}-${randomBytes(2).toString('hex')}-`
}

/** Runs `ip -n NS …`. */
export async function ipIn (ns: string, args: readonly string[]): Promise<string> {
  return await runOk('ip', ['-n', ns, ...args], { timeoutMs: COMMAND_TIMEOUT_MS })
}

/** Runs a command inside a namespace and returns stdout; throws on failure. */
export async function execIn (ns: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
  const [c, a] = inNs(ns, cmd, args)
  return await runOk(c, a, input === undefined ? { timeoutMs: COMMAND_TIMEOUT_MS } : { timeoutMs: COMMAND_TIMEOUT_MS, input })
}

/** Sets sysctls (`key=value` pairs) inside a namespace. */
export async function sysctlIn (ns: string, settings: Record<string, string>): Promise<void> {
  const pairs = Object.entries(settings).map(([k, v]) => `${k}=${v}`)
  await execIn(ns, 'sysctl', ['-q', '-w', ...pairs])
}

/** Loads an nft ruleset (text for `nft -f -`) inside a namespace. */
export async function nftIn (ns: string, ruleset: string): Promise<void> {
  await execIn(ns, 'nft', ['-f', '-'], ruleset)
}

/** Empties the conntrack table of a namespace (no error when it is already empty). */
export async function flushConntrack (ns: string): Promise<void> {
  const [c, a] = inNs(ns, 'conntrack', ['-F'])
  const r = await run(c, a, { timeoutMs: COMMAND_TIMEOUT_MS })
  // conntrack -F exits 1 with "0 flow entries" on some versions when the table is empty.
  if (r.timedOut || (r.code !== 0 && !/flow entries|table has been emptied/.test(r.stderr + r.stdout))) {
    throw new Error(`conntrack -F in ${ns} failed: ${r.stderr.trim()}`)
  }
}

/** The namespaces one lab created. */
export interface NamespaceSet {
  /** This run's prefix. */
  readonly prefix: string
  /** Creates `<prefix><short>` with loopback up, records it, and returns the full name. */
  create: (short: string) => Promise<string>
  /** Deletes one recorded namespace (no-op when unknown or gone). */
  remove: (name: string) => Promise<void>
  /** Names still recorded. */
  names: () => string[]
  /** Deletes every recorded namespace; collects errors and throws one at the end. Idempotent. */
  deleteAll: () => Promise<void>
  /** Synchronous last-resort cleanup for `process.on('exit')`. */
  deleteAllSync: () => void
}

/** Starts an empty set of namespaces with a fresh (or given) prefix. */
export function createNamespaceSet (prefix: string = labPrefix()): NamespaceSet {
  if (!/^iicplab-[a-z0-9-]+-$/.test(prefix)) throw new Error(`lab prefix must look like iicplab-…-: ${prefix}`)
  const created = new Set<string>()

  const remove = async (name: string): Promise<void> => {
    if (!created.has(name)) return
    const r = await run('ip', ['netns', 'del', name], { timeoutMs: COMMAND_TIMEOUT_MS })
    if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`)
    created.delete(name)
  }

  return {
    prefix,
    create: async (short: string) => {
      const name = `${prefix}${short}`
      await runOk('ip', ['netns', 'add', name], { timeoutMs: COMMAND_TIMEOUT_MS })
      created.add(name)
      await ipIn(name, ['link', 'set', 'lo', 'up'])
      return name
    },
    remove,
    names: () => [...created],
    deleteAll: async () => {
      const errors: string[] = []
      for (const name of [...created].reverse()) {
        try {
          await remove(name)
        } catch (err) {
          errors.push((err as Error).message)
        }
      }
      if (errors.length > 0) throw new Error(`lab namespace teardown: ${errors.join('; ')}`)
    },
    deleteAllSync: () => {
      for (const name of [...created].reverse()) {
        spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS })
        created.delete(name)
      }
    }
  }
}
