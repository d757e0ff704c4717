/**
 * The relays a worker may dial, for a fleet behind several addresses (`--relay a:9485,b:9485`)
 * or one DNS name with several addresses. Each worker walks its own random order of the
 * addresses, one step per attempt, so it starts at a random relay, fails over to the next one
 * when its relay dies, and the workers of a dead relay spread over the survivors instead of all
 * landing on the same one. Names are resolved again at the start of every round. Reusable by
 * anything that needs "the next relay to try".
 */
import { lookup } from 'node:dns/promises'
import { ipFamily, parseHostPort } from '../src/host-port.ts'

/** One relay address as configured. */
export interface RelayEntry {
  /** IP literal or DNS name. */
  host: string
  port: number
}

/** The relay chosen for one attempt. */
export interface PickedRelay {
  /** The address to dial (an IP when a name was expanded). */
  host: string
  port: number
  /** The host as configured (the name consumers know the fleet by). */
  name: string
}

/** Options for {@link RelayList}. */
export interface RelayListOptions {
  /** Resolves a name to all its addresses. @default dns.lookup(name, { all: true }) */
  resolve?: (name: string) => Promise<string[]>
  /** Random source in [0, 1). @default Math.random */
  random?: () => number
}

/** Most addresses one round holds (a name with a huge answer is cut). */
const MAX_ADDRESSES = 256

async function resolveAll (name: string): Promise<string[]> {
  return (await lookup(name, { all: true })).map(a => a.address)
}

/**
 * Parses `host[:port],host[:port],…` (IPv6 in brackets) into targets. Throws
 * ERR_INVALID_ADDRESS for a malformed entry or an empty list.
 */
export function parseRelayList (text: string, defaultPort: number): RelayEntry[] {
  const entries = text.split(',').map(s => s.trim()).filter(s => s !== '')
  if (entries.length === 0) return [parseHostPort(text, { defaultPort })]
  return entries.map(e => {
    const hp = parseHostPort(e, { defaultPort })
    return { host: hp.host, port: hp.port }
  })
}

/** A worker's walk over its relays. */
export class RelayList {
  readonly #targets: readonly RelayEntry[]
  readonly #resolve: (name: string) => Promise<string[]>
  readonly #random: () => number
  #round: PickedRelay[] = []
  #index = 0
  #last: PickedRelay | undefined

  constructor (targets: readonly RelayEntry[], options: RelayListOptions = {}) {
    if (targets.length === 0) throw new RangeError('a relay list needs at least one relay')
    this.#targets = [...targets]
    this.#resolve = options.resolve ?? resolveAll
    this.#random = options.random ?? Math.random
  }

  /** The configured targets. */
  get targets (): readonly RelayEntry[] {
    return this.#targets
  }

  /** The relay to try next: one step along this worker's random order, a new order after the last. */
  async next (): Promise<PickedRelay> {
    if (this.#index >= this.#round.length) {
      this.#round = this.#shuffle(await this.#expand())
      this.#index = 0
      // Never the same relay twice in a row across rounds, when there is a choice.
      const first = this.#round[0]
      if (this.#round.length > 1 && first !== undefined && this.#last !== undefined && first.host === this.#last.host && first.port === this.#last.port) {
        this.#round.push(this.#round.shift() as PickedRelay)
      }
    }
    const picked = this.#round[this.#index++] as PickedRelay
    this.#last = picked
    return picked
  }

  /** Every address of every target; a single address is dialled by its configured host. */
  async #expand (): Promise<PickedRelay[]> {
    const out: PickedRelay[] = []
    const seen = new Set<string>()
    for (const t of this.#targets) {
      let addresses = [t.host]
      if (ipFamily(t.host) === undefined) {
        try {
          const resolved = [...new Set(await this.#resolve(t.host))]
          if (resolved.length > 1) addresses = resolved
        } catch {
          // The dial reports the resolution failure with the name.
        }
      }
      for (const host of addresses) {
        const key = `${host}|${t.port}`
        if (seen.has(key) || out.length >= MAX_ADDRESSES) continue
        seen.add(key)
        out.push({ host, port: t.port, name: t.host })
      }
    }
    return out
  }

  #shuffle (items: PickedRelay[]): PickedRelay[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1))
      const a = items[i] as PickedRelay
      items[i] = items[j] as PickedRelay
      items[j] = a
    }
    return items
  }
}

/**
 * The `--relay` value of the worker CLI as a fleet list: `host:port,host:port,…` (plain TCP
 * relays), or one name when `spreadNames` asks to use every address it resolves to. Undefined
 * for a single relay without `spreadNames` (dialled as today). Throws ERR_INVALID_ADDRESS.
 */
export function relayListFromFlag (text: string, defaultPort: number, spreadNames: boolean): RelayEntry[] | undefined {
  if (!text.includes(',') && !spreadNames) return undefined
  return parseRelayList(text, defaultPort)
}
