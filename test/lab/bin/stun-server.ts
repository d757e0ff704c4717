/**
 * The lab's RFC 5780 STUN server (our createStunServer) for the internet namespace.
 * Usage: `stun-server.ts --primary IP:PORT --alternate IP:PORT`. Prints
 * `listening primary=IP:PORT alternate=IP:PORT rfc5780=true`, then runs until SIGTERM/SIGINT.
 * No rate limit: lab probes come from few addresses in quick succession.
 */
import { parseArgs } from 'node:util'
import { createStunServer, formatAddress } from '../../../nat/index.ts'
import { parseHostPort } from '../../../src/host-port.ts'

const { values } = parseArgs({ options: { primary: { type: 'string' }, alternate: { type: 'string' } } })
if (values.primary === undefined) throw new Error('usage: stun-server.ts --primary IP:PORT [--alternate IP:PORT]')
const toAddress = (text: string): { address: string, port: number } => {
  const hp = parseHostPort(text, { defaultPort: 3478 })
  return { address: hp.host, port: hp.port }
}
const server = createStunServer({
  primary: toAddress(values.primary),
  ...(values.alternate === undefined ? {} : { alternate: toAddress(values.alternate) }),
  rateLimit: false
})
const info = await server.listen()
process.stdout.write(`listening primary=${formatAddress(info.primary)} alternate=${info.alternate === undefined ? '-' : formatAddress(info.alternate)} rfc5780=${String(info.rfc5780)}\n`)
const stop = (): void => {
  server.close().then(() => { process.exit(0) }, () => { process.exit(1) })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
