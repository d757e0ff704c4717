/**
 * The probe's local step (no traffic): interface addresses, the public ones among them, the
 * IPv6 addresses ranked for serving, whether `[::]:port` can be bound, and a free port for `port: 0`.
 */
import { createServer, type AddressInfo } from 'node:net'
import { errorMessage } from '../../src/errors.ts'
import { listenTcp } from '../../src/transport/listen.ts'
import { listLocalAddresses, publicOnInterface, rankServingIpv6, type InterfaceSources, type LocalAddress, type PublicOnInterface } from '../net/interfaces.ts'

/** What the host itself says about its addresses. */
export interface LocalScan {
  /** Every interface address. */
  locals: LocalAddress[]
  /** Public addresses on interfaces. */
  pub: PublicOnInterface
  /** Usable global IPv6 addresses, best for serving first (empty when IPv6 is off). */
  ranked6: LocalAddress[]
  /** A TCP listener could bind `[::]:port`; null when not tried. */
  listenerV6: boolean | null
  /** Why the interface scan failed, if it did. */
  errors: string[]
}

/** A currently free TCP port (dual stack when possible), for `port: 0`. */
export async function pickFreePort (): Promise<number> {
  const server = createServer()
  server.on('error', () => undefined)
  let addr: AddressInfo
  try {
    addr = await listenTcp(server, { port: 0, host: '::' })
  } catch {
    addr = await listenTcp(server, { port: 0, host: '0.0.0.0' })
  }
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return addr.port
}

async function v6ListenerOk (port: number): Promise<boolean> {
  const server = createServer()
  try {
    await listenTcp(server, { port, host: '::', ipv6Only: true })
    return true
  } catch {
    return false
  } finally {
    if (server.listening) await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
}

/** Scans the interfaces and, when a serving IPv6 address exists, tries an IPv6-only listener on `port`. */
export async function scanLocal (sources: InterfaceSources | undefined, ipv6: boolean, port: number): Promise<LocalScan> {
  let locals: LocalAddress[] = []
  const errors: string[] = []
  try {
    locals = listLocalAddresses(sources)
  } catch (err) {
    errors.push(`interface scan: ${errorMessage(err)}`)
  }
  const ranked6 = ipv6 ? rankServingIpv6(locals) : []
  const listenerV6 = ipv6 && ranked6.length > 0 ? await v6ListenerOk(port) : null
  return { locals, pub: publicOnInterface(locals), ranked6, listenerV6, errors }
}
