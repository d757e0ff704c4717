/** Waiting for a connection to open, with its deadline and clean listener removal (TCP, TLS and WebSocket dials). */
import type { EventEmitter } from 'node:events'
import { abortError } from '../../src/abort.ts'
import type { ToolkitError } from '../../src/errors.ts'

/**
 * Resolves on `emitter`'s `event`; rejects with `mapError(err)` on 'error', or the signal's
 * abort error (a deadline) naming `what`. Every listener is removed either way.
 */
export async function awaitOpen (emitter: EventEmitter, event: string, signal: AbortSignal, what: string, mapError: (err: Error) => ToolkitError): Promise<void> {
  let cleanup = (): void => {}
  try {
    await new Promise<void>((resolve, reject) => {
      const onOpen = (): void => { resolve() }
      const onError = (err: Error): void => { reject(mapError(err)) }
      const onAbort = (): void => { reject(abortError(signal, what)) }
      emitter.once(event, onOpen)
      emitter.once('error', onError)
      signal.addEventListener('abort', onAbort, { once: true })
      cleanup = () => {
        emitter.off(event, onOpen)
        emitter.off('error', onError)
        signal.removeEventListener('abort', onAbort)
      }
    })
  } finally {
    cleanup()
  }
}
