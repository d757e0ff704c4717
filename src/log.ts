/**
 * Logging: one pino root logger per process (CLI), children per component and session.
 * Libraries take a logger in their options and default to a silent one; they never create
 * a global logger.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'
import PinoPretty from 'pino-pretty'

export type { Logger } from 'pino'

/** Log levels accepted by the CLIs and {@link createLogger}. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Log line formats accepted by the CLIs' `--log-format`: JSON lines, or pino-pretty's one-line text for terminals. */
export const LOG_FORMATS = ['json', 'pretty'] as const
/** @see LOG_FORMATS */
export type LogFormat = typeof LOG_FORMATS[number]

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Minimum level. @default 'info' */
  level?: LevelWithSilent
  /** Component name put on every line. */
  name?: string
  /** File descriptor to write JSON lines to. @default 1 (stdout) */
  fd?: number
  /** `json` lines for machines, or `pretty` (time, level, message, fields on one line) for people. @default 'json' */
  format?: LogFormat
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
  }, options.format === 'pretty'
    ? PinoPretty({ destination: options.fd ?? 1, sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : pino.destination({ fd: options.fd ?? 1, sync: true }))
}

/** True when `format` is one of {@link LOG_FORMATS}. */
export function isLogFormat (format: string): format is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(format)
}

/** A logger that writes nothing: the default for library users who pass none. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}

/** True when `level` is one of {@link LOG_LEVELS}. */
export function isLogLevel (level: string): level is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(level)
}
