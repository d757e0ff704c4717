/**
 * Workers bind from a network where only TCP 80/443 leave (issue 10), in the namespace lab:
 * UDP is dropped and every other outbound TCP port refused. A worker with `--transport auto`
 * finds TCP 9485 closed, binds over WSS on 443 (TLS with a test CA), and serves a task an
 * internet peer sends with curl. With 443 blocked too and only an HTTP proxy reachable, a
 * worker with HTTPS_PROXY binds through the proxy's CONNECT tunnel. Needs root; skips otherwise.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { LAB_BASE_BINARIES, findBinary, labSkipReason } from '../helpers/lab-env.ts'
import { createTestPki, type TestPki } from '../helpers/tls-certs.ts'
import { INTERNET_HOST_V4, REFLECTOR_DIAL_FROM_V4, REFLECTOR_V4 } from './addresses.ts'
import { SERVER_READY_MS, createLab, type Lab } from './lab.ts'
import { execIn, nftIn } from './namespaces.ts'
import { LAN_IF, WAN_IF } from './nft-rules.ts'
import type { Topology } from './topologies.ts'

const BASE_SKIP = labSkipReason(LAB_BASE_BINARIES.filter(b => b === 'ip' || b === 'nft' || b === 'conntrack' || b === 'sysctl'))
const SKIP = BASE_SKIP ?? (findBinary('curl') === undefined ? 'needs curl' : findBinary('openssl') === undefined ? 'needs openssl' : undefined)
const RELAY_ENTRY = fileURLToPath(new URL('../../relay/bin/iicp-relay.ts', import.meta.url))
const WORKER_ENTRY = fileURLToPath(new URL('../../worker/bin/iicp-worker.ts', import.meta.url))
/** The relay's internet address (free: this lab starts no reflector). */
const RELAY_IP = REFLECTOR_V4
/** The proxy's internet address. */
const PROXY_IP = REFLECTOR_DIAL_FROM_V4
const PROXY_PORT = 3128

/** Egress filter on the client's router: only TCP to `allowed` leaves (new connections); others get a TCP reset. */
function egressRules (allowed: string): string {
  return `table ip egress {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${LAN_IF}" oifname "${WAN_IF}" ct state established,related accept
    iifname "${LAN_IF}" oifname "${WAN_IF}" ${allowed} accept
    iifname "${LAN_IF}" oifname "${WAN_IF}" meta l4proto tcp reject with tcp reset
    iifname "${LAN_IF}" oifname "${WAN_IF}" drop
  }
}
`
}

describe('lab: workers bind where only TCP 80/443 (or a proxy) leave', { skip: SKIP ?? false }, () => {
  let lab: Lab
  let topo: Topology
  let pki: TestPki
  let router: string

  before(async () => {
    pki = createTestPki([`IP:${RELAY_IP}`])
    lab = await createLab({ coturn: false, stun: false, reflector: false })
    topo = await lab.addTopology('udp-blocked')
    router = topo.routerNs[0] as string
    const relay = lab.start('relay', lab.inetNs, process.execPath, [RELAY_ENTRY, '--host', RELAY_IP, '--http-port', '443', '--relay-port', '9485',
      '--tls-cert', pki.leaf.certFile, '--tls-key', pki.leaf.keyFile, '--log-level', 'warn'])
    await relay.waitFor(/iicp-relay listening/, SERVER_READY_MS)
    const proxy = lab.start('proxy', lab.inetNs, process.execPath, [fileURLToPath(new URL('bin/connect-proxy.ts', import.meta.url)), '--host', PROXY_IP, '--port', String(PROXY_PORT)])
    await proxy.waitFor(/^listening /m, SERVER_READY_MS)
  })

  after(async () => {
    await lab?.close()
    pki?.cleanup()
  })

  async function peerTask (workerId: string): Promise<unknown> {
    const out = await execIn(lab.inetNs, 'curl', ['-sS', '--max-time', '10', '--interface', INTERNET_HOST_V4, '--cacert', pki.caFile,
      '-H', 'content-type: application/json', '-d', '{"task_id":"lab","payload":"from the internet"}', `https://${RELAY_IP}/v1/relay-for/${workerId}/v1/task`])
    return JSON.parse(out)
  }

  async function transportBinds (): Promise<string> {
    return await execIn(lab.inetNs, 'curl', ['-sS', '--max-time', '10', '--cacert', pki.caFile, `https://${RELAY_IP}/metrics`])
  }

  it('--transport auto: TCP 9485 is refused, the worker binds over WSS on 443 and serves an internet peer', async () => {
    await nftIn(router, egressRules('tcp dport { 80, 443 }'))
    const worker = lab.start('worker-auto', topo.clientNs, process.execPath, [WORKER_ENTRY, '--relay', `https://${RELAY_IP}`, '--transport', 'auto',
      '--ca', pki.caFile, '--worker-id', 'lab-auto', '--echo', '--log-level', 'info'])
    try {
      const bound = await worker.waitFor(/bound worker=lab-auto .* endpoint=(\S+)/, SERVER_READY_MS)
      assert.equal(bound[1], `https://${RELAY_IP}:443/v1/relay-for/lab-auto`)
      assert.match(worker.output(), /relay transport failed; trying the next/)
      assert.deepEqual(await peerTask('lab-auto'), { task_id: 'lab', status: 'completed', result: { echo: 'from the internet' } })
      assert.match(await transportBinds(), /iicp_relay_transport_binds_total\{transport="wss",outcome="ok"\} 1/)
    } finally {
      await worker.stop()
      await execIn(router, 'nft', ['delete', 'table', 'ip', 'egress'])
    }
  })

  it('with 443 blocked too, HTTPS_PROXY carries the worker through CONNECT', async () => {
    await nftIn(router, egressRules(`ip daddr ${PROXY_IP} tcp dport ${PROXY_PORT}`))
    const direct = await execIn(topo.clientNs, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', '--cacert', pki.caFile, `https://${RELAY_IP}/iicp/health`]).catch(() => 'blocked')
    assert.equal(direct, 'blocked')
    const worker = lab.start('worker-proxy', topo.clientNs, 'env', [`HTTPS_PROXY=http://${PROXY_IP}:${PROXY_PORT}`, 'NO_PROXY=', process.execPath, WORKER_ENTRY,
      '--relay', `https://${RELAY_IP}`, '--transport', 'auto', '--ca', pki.caFile, '--worker-id', 'lab-proxy', '--echo', '--log-level', 'warn'])
    try {
      await worker.waitFor(/bound worker=lab-proxy/, SERVER_READY_MS)
      assert.deepEqual(await peerTask('lab-proxy'), { task_id: 'lab', status: 'completed', result: { echo: 'from the internet' } })
      assert.match(await transportBinds(), /iicp_relay_transport_binds_total\{transport="wss",outcome="ok"\} 2/)
    } finally {
      await worker.stop()
      await execIn(router, 'nft', ['delete', 'table', 'ip', 'egress'])
    }
  })
})
