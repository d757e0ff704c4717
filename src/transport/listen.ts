/**
 * Starts a TCP (or HTTP) server listening and resolves with its bound address, or rejects with
 * the listen error (EADDRINUSE, EACCES, …) without leaving a stray error listener behind.
 */
import type { AddressInfo, ListenOptions, Server } from 'node:net'
import { ErrorCode, ToolkitError } from '../errors.ts'

/** Listens with `options` (port 0 = ephemeral) and resolves with the bound TCP address. */
export async function listenTcp (server: Server, options: ListenOptions): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new ToolkitError(ErrorCode.InvalidConfig, 'server is not bound to a TCP address')
  return addr
}
