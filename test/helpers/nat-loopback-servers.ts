/** A real RFC 5780 STUN server (127.0.0.2 + alternate 127.0.0.3) and a dial-back reflector on 127.0.0.1, for probe tests. */
import { createReflectorServer, createStunServer } from '../../nat/index.ts'

/** Runs `fn` with the STUN server's `ip:port` and the reflector's base URL, closing both afterwards. */
export async function withLoopbackServers<T> (fn: (stun: string, reflector: string) => Promise<T>): Promise<T> {
  const stun = createStunServer({ primary: { address: '127.0.0.2', port: 0 }, alternate: { address: '127.0.0.3', port: 0 } })
  const info = await stun.listen()
  const reflector = createReflectorServer({ host: '127.0.0.1', port: 0, allowPrivate: true, rateLimit: 100 })
  try {
    const { url } = await reflector.listen()
    return await fn(`127.0.0.2:${info.primary.port}`, url)
  } finally {
    await reflector.close()
    await stun.close()
  }
}
