/** The relay-accept stream over WebSocket: the path on the relay's HTTP front and the subprotocol (relay and worker agree on both). */

/** The WebSocket path on the relay's HTTP front. */
export const RELAY_WS_PATH = '/v1/relay/ws'
/** The WebSocket subprotocol a worker offers and the relay requires. */
export const RELAY_WS_PROTOCOL = 'iicp-relay.v1'
