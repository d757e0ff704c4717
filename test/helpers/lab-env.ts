/**
 * Whether the NAT lab can run here: root, `ip netns add` works, and the required binaries exist.
 * Lab tests skip (never fail) with the returned reason when it cannot.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, existsSync } from 'node:fs'
import { join } from 'node:path'

/** Binaries every lab test needs. */
export const LAB_BASE_BINARIES = ['ip', 'nft', 'conntrack', 'sysctl', 'turnserver', 'turnutils_natdiscovery', 'turnutils_stunclient'] as const
/** Extra binaries for the miniupnpd topology. */
export const LAB_UPNP_BINARIES = ['miniupnpd', 'upnpc', 'natpmpc'] as const

const SEARCH_PATH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(p => p !== '')

/** Full path of an executable on PATH (plus the sbin directories), or undefined. */
export function findBinary (name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch { /* not here */ }
  }
  return undefined
}

/**
 * Why the lab cannot run (a message for `skip`), or undefined when it can. Checks root, that a
 * throwaway namespace can be created and deleted, and that `binaries` exist.
 */
export function labSkipReason (binaries: readonly string[] = LAB_BASE_BINARIES): string | undefined {
  if (process.platform !== 'linux') return 'NAT lab needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'NAT lab needs root (ip netns, nft)'
  const missing = binaries.filter(b => findBinary(b) === undefined)
  if (missing.length > 0) return `NAT lab needs ${missing.join(', ')} (apt-get install nftables conntrack coturn miniupnpd-nftables miniupnpc natpmpc)`
  if (!existsSync('/proc/self/ns/net')) return 'NAT lab: no network namespace support'
  const probe = `iicplab-${process.pid}-${randomBytes(2).toString('hex')}-check`
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: 5000 })
  if (add.status !== 0) return `NAT lab: ip netns add failed: ${(add.stderr ?? '').trim() || 'unknown error'}`
  spawnSync('ip', ['netns', 'del', probe], { timeout: 5000 })
  return undefined
}
