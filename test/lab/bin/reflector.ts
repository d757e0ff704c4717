/**
 * The lab's dial-back reflector (our createReflectorServer) for the internet namespace.
 * Usage: `reflector.ts --host IP [--host IP6 …] --port N [--dial-from IP …] [--stun IP:PORT …]` (one
 * server per host; dial-backs leave from the `--dial-from` address of the right family; `--stun`
 * addresses are advertised in GET /v1/nat/info, primary first). Prints
 * `listening <url>` per server, then runs until SIGTERM/SIGINT. The per-source rate limit is
 * raised: every lab probe of one topology comes from one address.
 */
import { parseArgs } from 'node:util'
import { createReflectorServer } from '../../../nat/index.ts'
import type { ReflectorServer } from '../../../nat/index.ts'

const { values } = parseArgs({ options: { host: { type: 'string', multiple: true }, port: { type: 'string', default: '0' }, 'dial-from': { type: 'string', multiple: true }, stun: { type: 'string', multiple: true } } })
const stun = (values.stun ?? []).map(s => ({ address: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) }))
const port = Number(values.port)
const hosts = values.host ?? []
if (hosts.length === 0 || !Number.isInteger(port)) throw new Error('usage: reflector.ts --host IP [--host IP …] --port N')
const servers: ReflectorServer[] = []
for (const host of hosts) {
  const reflector = createReflectorServer({ host, port, rateLimit: 1000, dialFrom: values['dial-from'] ?? [], stun })
  servers.push(reflector)
  const { url } = await reflector.listen()
  process.stdout.write(`listening ${url}\n`)
}
const stop = (): void => {
  Promise.all(servers.map(async s => { await s.close() })).then(() => { process.exit(0) }, () => { process.exit(1) })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
