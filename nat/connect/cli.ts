/**
 * `iicp-connect`: a local HTTP endpoint for one worker behind a relay. Any HTTP client posts
 * tasks to `http://127.0.0.1:8080/v1/task`; they travel through the relay at once and through a
 * direct (ICE) or TURN channel once one is open. `GET /iicp/connect/status` shows the path, `GET /metrics` the metrics.
 */
import { boolFlag, hostPortFlag, parseFlags, stringFlag, usageError, type FlagSpec } from '../../src/cli/args.ts'
import { formatHostPort } from '../../src/host-port.ts'
import { createLogger, isLogLevel } from '../../src/log.ts'
import { createConnectClient } from './client.ts'
import { startConnectGateway } from './gateway.ts'

const NAME = 'iicp-connect'
const SYNOPSIS = `Usage: ${NAME} --relay URL --worker WID [--listen 127.0.0.1:8080] [options]

Serves POST /v1/task, GET /iicp/connect/status and GET /metrics on the listen address and sends every task to
worker WID: through the relay at once, and through a direct or TURN path once one is open.`

const FLAGS: FlagSpec[] = [
  { name: 'relay', type: 'string', env: 'IICP_CONNECT_RELAY', valueName: 'URL', description: 'the relay\'s HTTP base URL, e.g. http://relay.example:9484' },
  { name: 'worker', type: 'string', env: 'IICP_CONNECT_WORKER', valueName: 'WID', description: 'the worker id to send tasks to' },
  { name: 'listen', type: 'string', env: 'IICP_CONNECT_LISTEN', valueName: 'HOST:PORT', description: 'local address to serve on (default 127.0.0.1:8080; port 0 = ephemeral)' },
  { name: 'no-direct', type: 'boolean', env: 'IICP_CONNECT_NO_DIRECT', description: 'never try a direct or TURN path (relay only)' },
  { name: 'turn-only', type: 'boolean', description: 'use TURN candidates only (the worker never learns this host\'s addresses)' },
  { name: 'log-level', type: 'string', env: 'IICP_LOG_LEVEL', valueName: 'LEVEL', description: 'fatal|error|warn|info|debug|trace|silent (default info); JSON logs on stderr' }
]

/** Runs `iicp-connect` until SIGTERM/SIGINT; resolves with the exit code. Throws ERR_USAGE for bad flags. */
export async function connectMain (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const values = parseFlags(NAME, SYNOPSIS, FLAGS, argv, env)
  if (values === undefined) return 0
  const relay = stringFlag(values, 'relay')
  if (relay === undefined) throw usageError('--relay URL is required')
  const worker = stringFlag(values, 'worker')
  if (worker === undefined) throw usageError('--worker WID is required')
  const listen = hostPortFlag(stringFlag(values, 'listen') ?? '127.0.0.1:8080', 'listen', { allowZeroPort: true })
  const level = stringFlag(values, 'log-level') ?? 'info'
  if (!isLogLevel(level)) throw usageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${level}"`)
  const logger = createLogger({ level, name: NAME, fd: 2 })
  let client
  try {
    client = createConnectClient({ relayUrl: relay, workerId: worker, direct: !boolFlag(values, 'no-direct'), relayOnly: boolFlag(values, 'turn-only'), logger })
  } catch (err) {
    throw usageError((err as Error).message)
  }
  const gateway = await startConnectGateway(client, listen.host, listen.port).catch(async (err: unknown) => {
    await client.close()
    throw err
  })
  process.stdout.write(`${NAME} listening http://${formatHostPort(gateway.address.address, gateway.address.port)} worker=${worker} relay=${relay}\n`)
  await new Promise<void>(resolve => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      logger.info({ signal }, 'stopping')
      resolve()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  await gateway.close()
  await client.close()
  return 0
}
