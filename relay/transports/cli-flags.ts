/**
 * The relay CLI's transport flags (`--tls-cert`, `--tls-key`, `--tls-relay-port`,
 * `--poll-hold`, `--no-websocket`, `--no-long-poll`) and the SIGHUP certificate reload.
 */
import { boolFlag, intFlag, secondsFlag, stringFlag, usageError, type FlagSpec, type FlagValues } from '../../src/cli/args.ts'
import { errorMessage } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'
import { DEFAULT_POLL_HOLD_MS, type RelayTransportOptions } from './options.ts'

/** The transport flags (merged into the relay's flag list). */
export const TRANSPORT_FLAGS: FlagSpec[] = [
  { name: 'tls-cert', type: 'string', env: 'IICP_RELAY_TLS_CERT', valueName: 'FILE', description: 'PEM certificate (chain allowed): the HTTP front serves HTTPS; re-read on SIGHUP' },
  { name: 'tls-key', type: 'string', env: 'IICP_RELAY_TLS_KEY', valueName: 'FILE', description: 'PEM private key of --tls-cert' },
  { name: 'tls-relay-port', type: 'string', env: 'IICP_RELAY_TLS_ACCEPT_PORT', valueName: 'PORT', description: 'also accept TLS (iicpsec://) workers on this port, 0 = ephemeral (needs --tls-cert)' },
  { name: 'poll-hold', type: 'string', env: 'IICP_RELAY_POLL_HOLD', valueName: 'SECONDS', description: `how long GET /v1/relay/pull waits before 204 (default ${DEFAULT_POLL_HOLD_MS / 1000})` },
  { name: 'no-websocket', type: 'boolean', env: 'IICP_RELAY_NO_WEBSOCKET', description: 'do not serve the WebSocket worker endpoint /v1/relay/ws' },
  { name: 'no-long-poll', type: 'boolean', env: 'IICP_RELAY_NO_LONG_POLL', description: 'do not serve the long-poll worker API /v1/relay/bind|pull|result|unbind' }
]

/** Maps the transport flags to relay options. Throws ERR_USAGE. */
export function transportOptionsFromFlags (values: FlagValues): RelayTransportOptions {
  const certFile = stringFlag(values, 'tls-cert')
  const keyFile = stringFlag(values, 'tls-key')
  if ((certFile === undefined) !== (keyFile === undefined)) throw usageError('--tls-cert and --tls-key go together')
  const tlsRelay = stringFlag(values, 'tls-relay-port')
  if (tlsRelay !== undefined && certFile === undefined) throw usageError('--tls-relay-port needs --tls-cert and --tls-key')
  return {
    ...(certFile === undefined || keyFile === undefined ? {} : { tls: { certFile, keyFile } }),
    ...(tlsRelay === undefined ? {} : { tlsRelayPort: intFlag(values, 'tls-relay-port', 0, 0, 65535) }),
    ...(stringFlag(values, 'poll-hold') === undefined ? {} : { pollHoldMs: secondsFlag(values, 'poll-hold', DEFAULT_POLL_HOLD_MS, 0.01, 3600) }),
    webSocket: !boolFlag(values, 'no-websocket'),
    longPoll: !boolFlag(values, 'no-long-poll')
  }
}

/**
 * Re-reads the certificate on SIGHUP (sessions stay up; a bad file is logged and the old
 * certificate kept). Returns the function that removes the handler.
 */
export function reloadTlsOnSighup (relay: { reloadTls: () => { notAfter: string } | undefined }, logger: Logger): () => void {
  const onHup = (): void => {
    try {
      relay.reloadTls()
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'TLS reload failed; keeping the current certificate')
    }
  }
  process.on('SIGHUP', onHup)
  return () => { process.off('SIGHUP', onHup) }
}
