/**
 * An HTTP CONNECT proxy inside a lab namespace (test/helpers/connect-proxy.ts), for the
 * "only the proxy leaves" network of test/lab/transports.test.ts.
 * Usage: connect-proxy.ts --host IP --port PORT; prints "listening <url>", stops on SIGTERM.
 */
import { parseArgs } from 'node:util'
import { startConnectProxy } from '../../helpers/connect-proxy.ts'

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' } } })
const proxy = await startConnectProxy(values.host ?? '0.0.0.0', Number(values.port ?? 3128))
process.stdout.write(`listening ${proxy.url}\n`)
process.once('SIGTERM', () => { void proxy.close().then(() => process.exit(0)) })
