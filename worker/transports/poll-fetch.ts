/**
 * The long-poll client's `fetch` in Node: node:http(s) through a keep-alive agent that
 * verifies certificates against the system roots plus `--ca` and tunnels through HTTPS_PROXY.
 * Certificate refusals surface as ERR_TLS_CERTIFICATE.
 */
import type { Agent } from 'node:http'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { httpRequest } from '../../src/http/request.ts'
import type { PollFetch } from '../browser/poll-client.ts'
import { certificateError } from './tls-errors.ts'

/** Largest pull answer: one task body (the relay's 8 MiB request limit) plus its envelope. */
const MAX_PULL_BYTES = 9 * 1024 * 1024

/** A {@link PollFetch} over `agent`. */
export function createPollFetch (agent: Agent): PollFetch {
  return async (url, init) => {
    try {
      const res = await httpRequest({
        url,
        method: init.method,
        headers: init.headers,
        ...(init.body === undefined ? {} : { body: init.body }),
        agent,
        signal: init.signal,
        maxBodyBytes: MAX_PULL_BYTES,
        errorCode: ErrorCode.ConnectionClosed
      })
      const text = res.body.toString('utf8')
      return { status: res.status, text: async () => await Promise.resolve(text) }
    } catch (err) {
      // A refusing proxy keeps its own code rather than the request's generic one.
      if (err instanceof Error && isToolkitError(err.cause, ErrorCode.Proxy)) throw err.cause
      throw certificateError(err, new URL(url).host) ?? err
    }
  }
}
