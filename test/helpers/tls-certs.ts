/**
 * A throwaway PKI for TLS tests, made with openssl in a temporary directory: a CA and leaf
 * certificates for 127.0.0.1/localhost (valid, second valid one for reloads, expired) and
 * for a wrong host name.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A certificate and its key as files. */
export interface CertFiles {
  certFile: string
  keyFile: string
}

/** The test PKI. */
export interface TestPki {
  /** The CA certificate file and its PEM text. */
  caFile: string
  caPem: string
  /** Valid for localhost and 127.0.0.1. */
  leaf: CertFiles
  /** A second valid certificate for the same names (reload tests). */
  leaf2: CertFiles
  /** Valid dates, but only for `wrong.example`. */
  wrongHost: CertFiles
  /** For localhost and 127.0.0.1, but expired. */
  expired: CertFiles
  /** Removes the directory. */
  cleanup: () => void
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Creates the PKI (about 100 ms); `extraSans` (e.g. `IP:11.0.0.3`) are added to the valid leaves. Throws if openssl is missing. */
export function createTestPki (extraSans: readonly string[] = []): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'iicp-pki-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=iicp-test-ca'], dir)
  let serial = 1
  const leaf = (name: string, san: string, days: number): CertFiles => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`)
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
      '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir)
    return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) }
  }
  const local = ['DNS:localhost', 'IP:127.0.0.1', ...extraSans].join(',')
  return {
    caFile: join(dir, 'ca.pem'),
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    leaf: leaf('leaf', local, 2),
    leaf2: leaf('leaf2', local, 2),
    wrongHost: leaf('wrong', 'DNS:wrong.example', 2),
    // openssl 3.0 has no -not_after; a negative validity ends the certificate before it starts.
    expired: leaf('expired', local, -1),
    cleanup: () => { rmSync(dir, { recursive: true, force: true }) }
  }
}
