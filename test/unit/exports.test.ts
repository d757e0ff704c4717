/**
 * Pins the runtime export list of every package entry point (package.json "exports"), so a
 * change to the public API is a visible decision: adding or removing an export means editing
 * this list in the same commit. Types are not listed (they have no runtime presence).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

const ROOT = new URL('../../', import.meta.url)

/** The pinned runtime exports of each entry point, sorted. */
const PINNED: Record<string, string[]> = {
  '.': [
    'BACKEND_TIMEOUT_MS', 'BIND_RATE_LIMIT', 'BIND_RATE_PRUNE_AT', 'BIND_RATE_WINDOW_MS', 'BIND_TICKET_CLOCK_SKEW_S',
    'BIND_TICKET_LIFETIME_S', 'BIND_TICKET_SIGNING_PREFIX', 'BIND_TICKET_TYPE', 'ByteChunks', 'CBOR_BYTES_PER_CONTAINER',
    'CBOR_BYTES_PER_ITEM', 'CBOR_CONTAINER_BASE', 'CBOR_ITEM_BASE', 'CHUNKED_BODY_BYTES', 'CONNECT_TIMEOUT_MS', 'CallKey',
    'DEFAULT_RELAY_ACCEPT_PORT', 'DEFAULT_RELAY_HTTP_PORT', 'DIRECTORY_TIMEOUT_MS', 'ErrorCode', 'FORWARD_TIMEOUT_MS',
    'FRAME_GRACE_MS', 'FRAME_HEADER_BYTES', 'FRAME_MAGIC', 'FRAMING_VERSION', 'FrameConnection', 'FrameDecoder',
    'HANDSHAKE_TIMEOUT_MS', 'HTTP_HEADERS_TIMEOUT_MS', 'HTTP_REQUEST_TIMEOUT_MS', 'HandshakeKey', 'IDLE_TIMEOUT_MS',
    'INBOUND_BUDGET_MEMORY_FRACTION', 'IicpCode', 'LISTEN_BACKLOG', 'LOG_LEVELS', 'LifecycleBlockKey',
    'LifecycleErrorKey', 'LifecycleKey', 'MAX_BIND_RATE_SOURCES', 'MAX_CALLS_IN_FLIGHT_PER_SESSION', 'MAX_CBOR_DEPTH',
    'MAX_CBOR_ITEMS', 'MAX_CBOR_SKIP_ITEMS', 'MAX_CONTROL_CBOR_ITEMS', 'MAX_CONTROL_PAYLOAD_BYTES',
    'MAX_DEFAULT_INBOUND_BUDGET_BYTES', 'MAX_FRAME_PAYLOAD_BYTES', 'MAX_HTTP_CONNECTIONS', 'MAX_PENDING_CONNECTIONS',
    'MAX_PENDING_CONNECTIONS_PER_IP', 'MAX_REQUEST_BODY_BYTES', 'MAX_SESSIONS', 'MAX_STREAM_EVENTS',
    'MIN_FRAME_BYTES_PER_SECOND', 'MIN_INBOUND_BUDGET_BYTES', 'MsgType', 'PING_INTERVAL_MS', 'PingKey',
    'REBIND_GRACE_MS', 'RECONNECT_MAX_DELAY_MS', 'RECONNECT_MIN_DELAY_MS', 'RelayAckKey', 'RelayBindKey',
    'SOCKET_HIGH_WATER_BYTES', 'STOP_GRACE_MS', 'ToolkitError', 'WORKER_MAX_CONCURRENT', 'abortError',
    'bindTicketPublicKeyFromSeed', 'createLogger', 'deadline', 'decodeCbor', 'decodeFrame', 'decodePayloadMap',
    'encodeAck', 'encodeCall', 'encodeCbor', 'encodeClose', 'encodeFrame', 'encodeInit', 'encodeLifecycleResponse',
    'encodePing', 'encodePong', 'encodeRelayAckError', 'encodeRelayAckOk', 'encodeRelayBind', 'encodeResponse',
    'encodeStreamCall', 'errorMessage', 'isLogLevel', 'isToolkitError', 'parseCall', 'parsePingEcho', 'parseRelayAck',
    'parseRelayBind', 'parseResponse', 'peekCallId', 'raceSignal', 'signBindTicket', 'silentLogger', 'sleep',
    'throwIfAborted', 'verifyBindTicket'
  ],
  './relay': [
    'BIND_REJECT_REASONS', 'CORS_HEADERS', 'CORS_MAX_AGE_SECONDS', 'createRedisFleet', 'createRelay'
  ],
  './worker': [
    'CAPACITY_ERROR', 'DEFAULT_MAX_QUEUED', 'STOPPING_ERROR', 'backendErrorMessage', 'buildRegistrationPayload',
    'createBackendHandler', 'createReachNode', 'createWorker', 'fetchBindTicket', 'reRegister', 'relayForEndpoint'
  ],
  './nat': [
    'DEFAULT_MAP_PROBE_TIMEOUT_MS', 'DEFAULT_PROBE_PORT', 'DEFAULT_PROBE_TIMEOUT_MS', 'DEFAULT_STUN_SERVERS',
    'DIALBACK_PATH', 'EXPOSURE_MODES', 'NAT_INFO_PATH', 'PROBE_SCHEMA_ID', 'classify', 'createDialbackRoute', 'createNatInfoRoute',
    'createReflectorServer', 'createStunServer', 'discoverGateways', 'discoverNatBehavior', 'exitCodeFor', 'formatAddress', 'mapPort',
    'natCapabilities', 'openPinhole', 'probeNetwork', 'stunBinding', 'verifyReachability'
  ],
  './nat/stun': [
    'AttributeType', 'DEFAULT_LAST_WAIT_MULTIPLIER', 'DEFAULT_MAX_REQUESTS', 'DEFAULT_NAT_BEHAVIOR_TIMEOUT_MS',
    'DEFAULT_RTO_MS', 'DEFAULT_STUN_SOFTWARE', 'FINGERPRINT_XOR', 'HEADER_BYTES', 'MAGIC_COOKIE', 'MAX_ATTRIBUTES',
    'MAX_PADDING_BYTES', 'MAX_SOFTWARE_BYTES', 'MAX_STUN_DATAGRAM_BYTES', 'MAX_USERNAME_BYTES', 'StunMethod',
    'TRANSACTION_ID_BYTES', 'appendFingerprint', 'appendMessageIntegrity', 'bindingRequestAttributes',
    'createStunServer', 'decodeAddress', 'decodeChangeRequest', 'decodeErrorCode', 'decodeMessage',
    'decodeResponsePort', 'decodeText', 'decodeUnknownAttributes', 'decodeXorAddress', 'discoverNatBehavior',
    'encodeAddress', 'encodeChangeRequest', 'encodeErrorCode', 'encodeMessage', 'encodeResponsePort', 'encodeText',
    'encodeUnknownAttributes', 'encodeXorAddress', 'formatAddress', 'getAttribute', 'isComprehensionRequired',
    'looksLikeStun', 'messageType', 'newTransactionId', 'parseBindingResponse', 'retransmissionScheduleMs',
    'splitMessageType', 'stunBinding', 'stunTransaction', 'verifyMessageIntegrity'
  ]
}

interface PackageJson { exports: Record<string, string | { default: string }> }

/** The source file behind an entry: `./dist/relay/index.js` is built from `relay/index.ts`. */
function sourceOf (target: string | { default: string }): string {
  const built = typeof target === 'string' ? target : target.default
  return built.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')
}

describe('public API', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as PackageJson
  const entries = Object.entries(pkg.exports).filter(([name]) => name !== './package.json')

  it('every package entry point has a pinned export list, and every pinned list an entry point', () => {
    assert.deepEqual(entries.map(([name]) => name).sort(), Object.keys(PINNED).sort())
  })

  for (const [name, target] of entries) {
    it(`${name} exports exactly its pinned list`, async () => {
      const mod = await import(new URL(sourceOf(target), ROOT).href) as Record<string, unknown>
      assert.deepEqual(Object.keys(mod).sort(), PINNED[name], `${name} (${sourceOf(target)}): update PINNED in this test if the change is intended`)
    })
  }
})
