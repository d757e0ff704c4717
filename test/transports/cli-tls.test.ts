/**
 * `iicp-relay --tls-cert --tls-key --tls-relay-port` and `iicp-worker --relay iicpsec://… --ca`
 * as real processes: the HTTPS front and the iicpsec:// port in the listening line, a task
 * through the TLS-bound worker, and SIGHUP re-reading the certificate while the session stays.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync } from 'node:fs'
import { request } from 'node:https'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { createTestPki, type TestPki } from '../helpers/tls-certs.ts'

const RELAY = fileURLToPath(new URL('../../relay/bin/iicp-relay.ts', import.meta.url))
const WORKER = fileURLToPath(new URL('../../worker/bin/iicp-worker.ts', import.meta.url))

let pki: TestPki
before(() => { pki = createTestPki() })
after(() => { pki.cleanup() })

function cleanEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IICP_') && !/_proxy$/i.test(k)) env[k] = v
  return env
}

/** Spawns `entry` and resolves with its first stdout line. */
async function spawnLine (entry: string, args: string[]): Promise<{ child: ChildProcess, line: string }> {
  const child = spawn(process.execPath, [entry, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no line from ${entry}; stderr: ${err}`)) }, 15_000)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const nl = out.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl)) }
    })
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`${entry} exited early; stderr: ${err}`)) })
  })
  return { child, line }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

async function serial (port: number, ca: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => { resolve(s.getPeerCertificate().serialNumber); s.destroy() })
    s.on('error', reject)
  })
}

async function task (port: number, ca: string): Promise<number> {
  const body = Buffer.from('{"task_id":"cli","payload":"hi"}')
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/relay-for/cli-w/v1/task', method: 'POST', ca, agent: false, headers: { 'content-length': body.length } }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end(body)
  })
}

describe('iicp-relay and iicp-worker with TLS', () => {
  it('serves HTTPS and iicpsec://, and SIGHUP swaps the certificate while the worker stays bound', async () => {
    const relay = await spawnLine(RELAY, ['--host', '127.0.0.1', '--http-port', '0', '--relay-port', '0', '--tls-cert', pki.leaf.certFile, '--tls-key', pki.leaf.keyFile, '--tls-relay-port', '0', '--log-level', 'warn'])
    let worker: ChildProcess | undefined
    try {
      const m = /^iicp-relay listening http=https:\/\/127\.0\.0\.1:(\d+) relay=127\.0\.0\.1:(\d+) tls-relay=iicpsec:\/\/127\.0\.0\.1:(\d+)/.exec(relay.line)
      assert.ok(m, relay.line)
      const httpPort = Number(m[1])
      const tlsPort = Number(m[3])
      const w = await spawnLine(WORKER, ['--relay', `iicpsec://127.0.0.1:${tlsPort}`, '--ca', pki.caFile, '--worker-id', 'cli-w', '--echo', '--log-level', 'warn'])
      worker = w.child
      assert.match(w.line, /bound worker=cli-w/)
      assert.equal(await task(httpPort, pki.caPem), 200)
      const before = await serial(tlsPort, pki.caPem)
      copyFileSync(pki.leaf2.certFile, pki.leaf.certFile)
      copyFileSync(pki.leaf2.keyFile, pki.leaf.keyFile)
      relay.child.kill('SIGHUP')
      // The reload is synchronous in the signal handler; poll the served serial (bounded).
      let after = before
      for (let i = 0; i < 100 && after === before; i++) {
        await new Promise(resolve => setTimeout(resolve, 20))
        after = await serial(tlsPort, pki.caPem)
      }
      assert.notEqual(after, before)
      assert.equal(await task(httpPort, pki.caPem), 200)
      assert.equal(worker.exitCode, null)
    } finally {
      if (worker !== undefined) await stop(worker)
      await stop(relay.child)
    }
  })
})
