/**
 * The lab's dial-back reflector (our createReflectorServer) for the internet namespace.
 * Usage: `reflector.ts --host IP --port N`. Prints `listening <url>`, then runs until SIGTERM/SIGINT.
 * The per-source rate limit is raised: every lab probe of one topology comes from one address.
 */
import { parseArgs } from 'node:util'
import { createReflectorServer } from '../../../nat/index.ts'

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string', default: '0' } } })
const port = Number(values.port)
if (values.host === undefined || !Number.isInteger(port)) throw new Error('usage: reflector.ts --host IP --port N')
const reflector = createReflectorServer({ host: values.host, port, rateLimit: 1000 })
const { url } = await reflector.listen()
process.stdout.write(`listening ${url}\n`)
const stop = (): void => {
  reflector.close().then(() => { process.exit(0) }, () => { process.exit(1) })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
