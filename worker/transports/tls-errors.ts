/**
 * Clear errors for refused TLS certificates: whichever transport dialled (iicpsec://, wss://,
 * https://), an untrusted issuer, a wrong host name or an expired certificate becomes
 * ERR_TLS_CERTIFICATE with the TLS code in `details.reason`.
 */
import { ErrorCode, ToolkitError } from '../../src/errors.ts'

/** OpenSSL/Node codes that mean "this certificate is not acceptable". */
const CERTIFICATE_CODES: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is not valid for this host name',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed (give its CA with --ca)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted root (give it with --ca)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate is not signed by a trusted CA (give it with --ca)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate is not signed by a trusted CA (give it with --ca)',
  UNABLE_TO_GET_ISSUER_CERT: 'the certificate issuer is unknown',
  CERT_SIGNATURE_FAILURE: 'the certificate signature is invalid',
  CERT_REVOKED: 'the certificate is revoked',
  CERT_UNTRUSTED: 'the certificate is not trusted',
  INVALID_CA: 'the issuing CA is invalid'
}

/** The certificate refusal behind `err` (or its causes) as ERR_TLS_CERTIFICATE, else undefined. */
export function certificateError (err: unknown, where: string): ToolkitError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== undefined && Object.hasOwn(CERTIFICATE_CODES, code)) {
      return new ToolkitError(ErrorCode.TlsCertificate, `TLS certificate of ${where} refused: ${CERTIFICATE_CODES[code]} (${code})`, { cause: e, details: { reason: code } })
    }
  }
  return undefined
}
