/** `host:port` text for logs, URLs and listening lines, shared by every module. */

/**
 * Formats a host and port, bracketing IPv6 literals: `[2001:db8::1]:3478`, `10.0.0.1:9485`.
 *
 * @example
 * ```ts
 * `http://${formatHostPort('::1', 9484)}/` // 'http://[::1]:9484/'
 * ```
 */
export function formatHostPort (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
