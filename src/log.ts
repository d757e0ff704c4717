/**
 * Logging: one pino root logger per process (CLI), children per component and session.
 * Libraries take a logger in their options and default to a silent one; they never create
 * a global logger.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger } from 'pino'

/** Log levels accepted by the CLIs and {@link createLogger}. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Minimum level. @default 'info' */
  level?: LevelWithSilent
  /** Component name put on every line. */
  name?: string
  /** File descriptor to write JSON lines to. @default 1 (stdout) */
  fd?: number
}

/**
 * Creates a JSON logger writing synchronously to a file descriptor (no transport, no worker
 * thread, so the last lines before exit are never lost). Secrets are redacted.
 */
export function createLogger (options: CreateLoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    ...(options.name === undefined ? {} : { name: options.name }),
    redact: {
      paths: ['ticket', 'token', 'nodeToken', 'headers.authorization', '*.ticket', '*.token', '*.nodeToken'],
      censor: '[redacted]'
    }
  }, pino.destination({ fd: options.fd ?? 1, sync: true }))
}

/** A logger that writes nothing: the default for library users who pass none. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}

/** True when `level` is one of {@link LOG_LEVELS}. */
export function isLogLevel (level: string): level is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(level)
}
