/**
 * The example page's script (index.html): binds this browser tab as a relay worker and answers
 * every task with `{"result": {"echo": task.payload, "from": "browser"}}`. The relay URL and
 * worker id come from the form or from `?relay=…&worker=…` (which also starts at once).
 * Build it with `npm run build:browser`.
 */
import { startBrowserWorker, type BrowserWorker } from './browser-worker.ts'

/** The little of the DOM this page uses (the project compiles without lib.dom). */
interface PageElement {
  textContent: string | null
  value: string
  addEventListener: (type: 'submit', listener: (event: { preventDefault: () => void }) => void) => void
}
declare const document: { querySelector: (selector: string) => PageElement }
declare const location: { search: string }

const form = document.querySelector('form')
const relayInput = document.querySelector('#relay')
const workerInput = document.querySelector('#worker')
const stateOut = document.querySelector('#state')
const logOut = document.querySelector('#log')
let worker: BrowserWorker | undefined
let served = 0

function show (state: string, detail?: string): void {
  stateOut.textContent = state
  if (detail !== undefined) logOut.textContent = detail
}

function start (relayUrl: string, workerId: string): void {
  void worker?.stop()
  worker = startBrowserWorker({
    relayUrl,
    workerId,
    handler: task => {
      served++
      logOut.textContent = `served ${served} task(s)`
      return { result: { echo: (task as { payload?: unknown } | null)?.payload ?? null, from: 'browser' } }
    },
    onState: show
  })
}

form.addEventListener('submit', event => {
  event.preventDefault()
  start(relayInput.value, workerInput.value)
})

const params = new URLSearchParams(location.search)
const relay = params.get('relay')
const workerId = params.get('worker')
if (relay !== null && workerId !== null) {
  relayInput.value = relay
  workerInput.value = workerId
  start(relay, workerId)
}
