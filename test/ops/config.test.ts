/**
 * Operator configuration (issue 12, findings 1, 2, 6): strict booleans, the `--config` TOML
 * layer (flags > environment > file, unknown keys and wrong types rejected with the line),
 * strict mode without a key refused at start, `config check` with secrets redacted, and
 * `keygen` + `ticket` making tickets the relay accepts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { parseBoolean, resolveFlags, type FlagSpec } from '../../src/cli/args.ts'
import { ErrorCode, isToolkitError } from '../../src/errors.ts'
import { verifyBindTicket } from '../../src/protocol/bind-ticket.ts'
import { relayMain } from '../../relay/cli.ts'

const SPECS: FlagSpec[] = [
  { name: 'host', type: 'string', env: 'T_HOST', description: '' },
  { name: 'port', type: 'string', env: 'T_PORT', description: '' },
  { name: 'strict', type: 'boolean', env: 'T_STRICT', description: '' },
  { name: 'model', type: 'string', multiple: true, env: 'T_MODELS', description: '' },
  { name: 'node-token', type: 'string', env: 'T_TOKEN', description: '' }
]

/** Writes `text` to a fresh TOML file; removed after the test. */
function tomlFile (t: { after: (fn: () => void) => void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'iicp-config-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'relay.toml')
  writeFileSync(file, text)
  return file
}

/** Asserts `fn` throws ERR_USAGE with exit code 2 and a message matching `message`. */
function assertUsage (fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => isToolkitError(err, ErrorCode.Usage) && err.details?.exitCode === 2 && message.test(err.message))
}

/** Runs relayMain to completion and returns what it wrote to stdout. */
async function relayOutput (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const out = new PassThrough()
  let text = ''
  out.on('data', (c: Buffer) => { text += c.toString('utf8') })
  assert.equal(await relayMain(argv, env, { out }), 0)
  return text
}

describe('boolean flags and variables', () => {
  it('accept exactly 1/true/yes/on and 0/false/no/off, in any case', () => {
    for (const v of ['1', 'true', 'YES', 'On']) assert.equal(parseBoolean(v, 'X'), true)
    for (const v of ['0', 'false', 'No', 'OFF']) assert.equal(parseBoolean(v, 'X'), false)
  })

  it('reject anything else with exit 2, naming the variable', () => {
    for (const v of ['enabled', ' 1', '1 ', '2', 'y']) assertUsage(() => parseBoolean(v, 'IICP_X'), /^IICP_X must be one of .*got /)
    assertUsage(() => resolveFlags('t', '', SPECS, [], { T_STRICT: 'enabled' }), /T_STRICT must be one of/)
  })
})

describe('--config FILE', () => {
  it('fills what flags and environment leave unset: flags > environment > file', t => {
    const file = tomlFile(t, 'host = "file-host"\nport = 1\nstrict = true\nmodel = ["a", "b"]\nnode-token = "s3cret"\n')
    const r = resolveFlags('t', '', SPECS, ['--config', file, '--host', 'flag-host'], { T_HOST: 'env-host', T_PORT: '2' })
    assert.ok(r)
    assert.deepEqual(r.values, { config: file, host: 'flag-host', port: '2', strict: true, model: ['a', 'b'], 'node-token': 's3cret' })
    assert.deepEqual(r.sources, { config: 'flag', host: 'flag', port: 'env', strict: 'file', model: 'file', 'node-token': 'file' })
    const viaEnv = resolveFlags('t', '', SPECS, [], { IICP_CONFIG: file })
    assert.equal(viaEnv?.values.host, 'file-host')
  })

  it('rejects unknown keys, tables and wrong types with the file and line', t => {
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'host = "h"\n\n  bogus = 1\n')]), /relay\.toml:3: unknown key "bogus"/)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'host = "h"\n[relay]\nport = 1\n')]), /relay\.toml:2: unknown key "relay"/)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'port = 1\nstrict = "yes"\n')]), /relay\.toml:2: "strict" must be true or false/)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'host = ["a"]\n')]), /relay\.toml:1: "host" must be a string or a number/)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'port = 1\nhost = \n')]), /relay\.toml:2: /)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', tomlFile(t, 'help = true\n')]), /unknown key "help"/)
    assertUsage(() => resolveFlags('t', '', SPECS, ['--config', '/nonexistent/relay.toml']), /cannot read the config file \(ENOENT\)/)
  })
})

describe('iicp-relay strict mode and config check', () => {
  it('refuses --require-ticket without a public key (flag, environment or file) with exit 2', async t => {
    const why = /--require-ticket needs --ticket-public-key/
    const isWhy = (err: unknown): boolean => isToolkitError(err, ErrorCode.Usage) && err.details?.exitCode === 2 && why.test(err.message)
    await assert.rejects(relayMain(['--require-ticket', '--http-port', '0', '--relay-port', '0'], {}), isWhy)
    await assert.rejects(relayMain(['--http-port', '0'], { IICP_RELAY_REQUIRE_BIND_TICKET: '1', IICP_RELAY_BIND_TICKET_PUBLIC_KEY: '' }), isWhy)
    await assert.rejects(relayMain(['--config', tomlFile(t, 'require-ticket = true\n')], {}), isWhy)
    await assert.rejects(relayMain(['--http-port', '0'], { IICP_RELAY_REQUIRE_BIND_TICKET: 'enabled' }),
      (err: unknown) => isToolkitError(err, ErrorCode.Usage) && /IICP_RELAY_REQUIRE_BIND_TICKET must be one of/.test(err.message))
  })

  it('config check prints the effective configuration with sources, secrets redacted, and validates it', async () => {
    const keys = await relayOutput(['keygen'])
    const publicKey = /^PUBLIC_KEY=([0-9a-f]{64})$/m.exec(keys)?.[1] ?? ''
    const privateKey = /^PRIVATE_KEY=([0-9a-f]{64})$/m.exec(keys)?.[1] ?? ''
    assert.equal(publicKey.length, 64)
    // The shipped example, with the key placeholder overridden by a flag (flags > file).
    const text = await relayOutput(['config', 'check', '--config', 'deploy/relay.toml.example', '--ticket-public-key', publicKey], { IICP_RELAY_MAX_SESSIONS: '500' })
    assert.match(text, /^host = "::" {2}# file$/m)
    assert.match(text, /^require-ticket = true {2}# file$/m)
    assert.match(text, new RegExp(`^ticket-public-key = "${publicKey}"  # flag$`, 'm'))
    assert.match(text, /^max-sessions = "500" {2}# env IICP_RELAY_MAX_SESSIONS$/m)
    assert.match(text, /^metrics-port = "9486" {2}# file$/m)
    assert.match(await relayOutput(['config', 'check', '--no-task-fast-path']), /^no-task-fast-path = true {2}# flag$/m)
    // Secrets are redacted: a composed flag named like one (tokens, secrets, private keys) shows as [redacted].
    const out = new PassThrough()
    let withSecret = ''
    out.on('data', (c: Buffer) => { withSecret += c.toString('utf8') })
    await relayMain(['config', 'check', '--turn-secret', privateKey], {}, { out, flags: [{ name: 'turn-secret', type: 'string', description: '' }] })
    assert.match(withSecret, /^turn-secret = "\[redacted\]" {2}# flag$/m)
    assert.doesNotMatch(withSecret, new RegExp(privateKey))
    await assert.rejects(relayMain(['config', 'check', '--config', 'deploy/relay.toml.example'], {}),
      (err: unknown) => isToolkitError(err, ErrorCode.Usage) && /--ticket-public-key must be 64 hex/.test(err.message))
  })

  it('keygen and ticket make a ticket the relay verifies', async () => {
    const keys = await relayOutput(['keygen'])
    const publicKeyHex = /^PUBLIC_KEY=(\w+)$/m.exec(keys)?.[1] ?? ''
    const privateKey = /^PRIVATE_KEY=(\w+)$/m.exec(keys)?.[1] ?? ''
    const ticket = (await relayOutput(['ticket', '--worker-id', 'w-1', '--aud', 'relay-1', '--ttl', '60'], { IICP_TICKET_PRIVATE_KEY: privateKey })).trim()
    const nowSeconds = Math.floor(Date.now() / 1000)
    assert.deepEqual(verifyBindTicket(ticket, { publicKeyHex, workerId: 'w-1', audience: 'relay-1', nowSeconds }).ok, true)
    assert.deepEqual(verifyBindTicket(ticket, { publicKeyHex, workerId: 'w-2', audience: 'relay-1', nowSeconds }).ok, false)
    assert.deepEqual(verifyBindTicket(ticket, { publicKeyHex, workerId: 'w-1', audience: 'relay-1', nowSeconds: nowSeconds + 61 }).ok, false)
    await assert.rejects(relayMain(['ticket', '--worker-id', 'w'], {}), (err: unknown) => isToolkitError(err, ErrorCode.Usage) && /--key must be/.test(err.message))
  })
})
