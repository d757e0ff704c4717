/**
 * The browser worker in headless Chromium (Debian's chromium through playwright-core): the
 * example page (worker/browser/index.html, its script bundled with esbuild) binds the tab
 * through the relay's long-poll API from another origin (CORS), and answers a task that curl
 * sends to /v1/relay-for/{wid}/v1/task. Skips when /usr/bin/chromium is missing.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { chromium } from 'playwright-core'
import { createRelay } from '../../relay/index.ts'

const CHROMIUM = '/usr/bin/chromium'
const PAGE_DIR = new URL('../../worker/browser/', import.meta.url)
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Serves index.html and the bundled example.js on 127.0.0.1. */
async function servePage (): Promise<{ server: Server, port: number }> {
  const bundle = await build({ entryPoints: [new URL('example.ts', PAGE_DIR).pathname], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false })
  const js = bundle.outputFiles[0]?.contents ?? new Uint8Array()
  const html = readFileSync(new URL('index.html', PAGE_DIR))
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    else if (path === '/example.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
    else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

describe('browser worker in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, () => {
  it('binds through long-poll and answers a task sent with curl to /v1/relay-for/{wid}/v1/task', async () => {
    const relay = createRelay({ host: '127.0.0.1', httpPort: 0, relayPort: 0, pollHoldMs: 2000 })
    const { httpPort } = await relay.listen()
    const page = await servePage()
    const profile = mkdtempSync(join(tmpdir(), 'iicp-chromium-'))
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS })
    try {
      const tab = await browser.newPage()
      await tab.goto(`http://127.0.0.1:${page.port}/index.html?relay=${encodeURIComponent(`http://127.0.0.1:${httpPort}`)}&worker=browser-1`)
      await tab.waitForFunction(() => (globalThis as unknown as { document: { querySelector: (s: string) => { textContent: string } } }).document.querySelector('#state').textContent === 'bound', undefined, { timeout: 15_000 })
      const { stdout } = await promisify(execFile)('curl', ['-sS', '--max-time', '10', '-H', 'content-type: application/json',
        '-d', '{"task_id":"from-curl","payload":{"q":"ping"}}', `http://127.0.0.1:${httpPort}/v1/relay-for/browser-1/v1/task`])
      assert.deepEqual(JSON.parse(stdout), { task_id: 'from-curl', status: 'completed', result: { echo: { q: 'ping' }, from: 'browser' } })
      const health = await fetch(`http://127.0.0.1:${httpPort}/v1/relay-for/browser-1/iicp/health`)
      assert.equal(health.status, 200)
    } finally {
      await browser.close()
      rmSync(profile, { recursive: true, force: true })
      await new Promise<void>(resolve => page.server.close(() => { resolve() }))
      await relay.close()
    }
  })
})
