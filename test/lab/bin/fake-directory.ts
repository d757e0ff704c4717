/**
 * The contract-faithful fake directory (test/helpers/fake-directory.ts) in a lab namespace, with
 * the production rules on: routability (§3.2) and the registration dial-back (§3.3).
 * Usage: `fake-directory.ts --host IP --port N`. Prints `listening <base url>`, then one line per
 * register/heartbeat/deregister answer: `<method> <path> <status> <request body JSON>`.
 */
import { parseArgs } from 'node:util'
import { startFakeDirectory } from '../../helpers/fake-directory.ts'

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string', default: '0' } } })
const dir = await startFakeDirectory({
  contract: { routability: true, dialBack: true },
  host: values.host ?? '127.0.0.1',
  port: Number(values.port),
  onReply: (req, r) => {
    if (r === 'hang' || !/\/v1\/(register|heartbeat)$/.test(req.path)) return
    process.stdout.write(`${req.method} ${req.path} ${r.status} ${req.text.replace(/\s+/g, ' ')}\n`)
  }
})
process.stdout.write(`listening ${dir.url}\n`)
const stop = (): void => { void dir.close().then(() => process.exit(0)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
