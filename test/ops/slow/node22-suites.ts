/**
 * `npm run test:node22` (run by CI): the library's own suites (unit, relay, worker, NAT,
 * transports, fleet) on Node 22, the oldest line the package supports, with the TypeScript
 * sources run by Node 22's type stripping. The NAT lab, ICE, browser, integration and ops
 * suites run on the pinned Node 24 only (`npm test`).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { TYPE_STRIPPING, node22Binary } from '../../helpers/node22.ts'

const SUITES = 'test/{unit,relay,worker,nat,transports,fleet}/**/*.test.ts'
const INSTALL_TIMEOUT_MS = 300_000

const node = await node22Binary(INSTALL_TIMEOUT_MS)
if (node === undefined) {
  console.log('test:node22 skipped (IICP_SKIP_NODE22=1)')
} else {
  const child = spawn(node, [...TYPE_STRIPPING, '--test', '--test-reporter=spec', '--test-timeout=60000', SUITES], { stdio: 'inherit' })
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
  process.exitCode = code ?? (signal === null ? 1 : 128)
}
