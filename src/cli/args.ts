/**
 * Command-line plumbing shared by `iicp-relay`, `iicp-worker` and `iicp-nat`: flags with
 * `IICP_…` environment fallbacks, `--help`/`--version`, and one-line usage errors (exit 2).
 */
import { parseArgs } from 'node:util'
import { ErrorCode, ToolkitError } from '../errors.ts'
import { parseHostPort, type HostPort, type ParseHostPortOptions } from '../host-port.ts'
import { isLogFormat, type LogFormat } from '../log.ts'
import { VERSION } from '../version.ts'
import { readConfigFile } from './config-file.ts'

/** One command-line flag. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `http-port`. */
  name: string
  /** `string` flags take a value; `boolean` flags do not. */
  type: 'string' | 'boolean'
  /** Repeatable (collects every value). */
  multiple?: boolean
  /** Environment variable used when the flag is absent. */
  env?: string
  /** Placeholder shown in help, e.g. `PORT`. */
  valueName?: string
  /** One-line help text. */
  description: string
  /** The value is a secret: `config check` shows it redacted (names with token, secret, private, key are too). */
  secret?: boolean
}

/** Parsed flags: strings, booleans or string lists by long name. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>

/** Throws a usage error (ERR_USAGE): the CLI prints it on one line and exits with `exitCode`. */
export function usageError (message: string, exitCode = 2): ToolkitError {
  return new ToolkitError(ErrorCode.Usage, message, { details: { exitCode } })
}

/** The package version (src/version.ts), printed by `--version`. */
export { VERSION } from '../version.ts'

const COMMON: FlagSpec[] = [
  { name: 'config', type: 'string', env: 'IICP_CONFIG', valueName: 'FILE', description: 'TOML file whose keys are these flags\' long names; flags > environment > file' },
  { name: 'help', type: 'boolean', description: 'print this help and exit' },
  { name: 'version', type: 'boolean', description: 'print the version and exit' }
]

/** Values a boolean environment variable may take (case-insensitive); anything else is a usage error. */
export const BOOLEAN_TRUE = ['1', 'true', 'yes', 'on'] as const
/** @see BOOLEAN_TRUE */
export const BOOLEAN_FALSE = ['0', 'false', 'no', 'off'] as const

/** Where a flag's value came from. */
export type FlagSource = 'flag' | 'env' | 'file'

/** Parsed flags with the source of each value and the config file read, if any. */
export interface ResolvedFlags {
  values: FlagValues
  sources: Record<string, FlagSource>
  configFile?: string
}

/**
 * Parses argv against `specs`, filling absent flags from their environment variables, then
 * from the `--config` file. Returns undefined after printing help or version. Throws
 * ERR_USAGE on unknown flags, missing values, stray positionals, booleans outside
 * {@link BOOLEAN_TRUE}/{@link BOOLEAN_FALSE}, and config file errors.
 */
export function parseFlags (name: string, synopsis: string, specs: FlagSpec[], argv: string[], env: NodeJS.ProcessEnv = process.env): FlagValues | undefined {
  return resolveFlags(name, synopsis, specs, argv, env)?.values
}

/** {@link parseFlags}, also reporting where each value came from (for `config check`). */
export function resolveFlags (name: string, synopsis: string, specs: FlagSpec[], argv: string[], env: NodeJS.ProcessEnv = process.env): ResolvedFlags | undefined {
  const all = [...specs, ...COMMON]
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = {}
  for (const s of all) options[s.name] = s.multiple === true ? { type: s.type, multiple: true } : { type: s.type }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
  } catch (err) {
    throw usageError((err as Error).message.split('\n')[0] ?? 'invalid arguments')
  }
  const values: FlagValues = { ...(parsed.values as FlagValues) }
  if (values.help === true) {
    process.stdout.write(formatHelp(name, synopsis, all))
    return undefined
  }
  if (values.version === true) {
    process.stdout.write(`${name} ${VERSION}\n`)
    return undefined
  }
  const sources: Record<string, FlagSource> = {}
  for (const key of Object.keys(values)) sources[key] = 'flag'
  for (const s of specs) {
    if (values[s.name] !== undefined || s.env === undefined) continue
    const raw = env[s.env]
    if (raw === undefined || raw === '') continue
    values[s.name] = s.type === 'boolean'
      ? parseBoolean(raw, s.env)
      : s.multiple === true ? raw.split(',').map(v => v.trim()).filter(v => v !== '') : raw
    sources[s.name] = 'env'
  }
  const configFile = stringFlag(values, 'config') ?? (env.IICP_CONFIG === '' ? undefined : env.IICP_CONFIG)
  if (configFile === undefined) return { values, sources }
  for (const [key, value] of Object.entries(readConfigFile(configFile, specs))) {
    if (values[key] !== undefined) continue
    values[key] = value
    sources[key] = 'file'
  }
  return { values, sources, configFile }
}

/** Parses a boolean environment value: one of {@link BOOLEAN_TRUE} or {@link BOOLEAN_FALSE}, else ERR_USAGE. */
export function parseBoolean (raw: string, variable: string): boolean {
  const lower = raw.toLowerCase()
  if ((BOOLEAN_TRUE as readonly string[]).includes(lower)) return true
  if ((BOOLEAN_FALSE as readonly string[]).includes(lower)) return false
  throw usageError(`${variable} must be one of ${[...BOOLEAN_TRUE, ...BOOLEAN_FALSE].join(', ')}; got ${JSON.stringify(raw)}`)
}

/** Renders `--help` text. */
function formatHelp (name: string, synopsis: string, specs: FlagSpec[]): string {
  const rows = specs.map(s => {
    const flag = `--${s.name}${s.type === 'string' ? ` ${s.valueName ?? 'VALUE'}` : ''}`
    const extra = [s.multiple === true ? 'repeatable' : '', s.env === undefined ? '' : `env ${s.env}`].filter(x => x !== '').join('; ')
    return [flag, extra === '' ? s.description : `${s.description} (${extra})`]
  })
  const width = Math.max(...rows.map(r => (r[0] ?? '').length)) + 2
  return `${synopsis}\n\nOptions:\n${rows.map(([f, d]) => `  ${(f ?? '').padEnd(width)}${d ?? ''}`).join('\n')}\n`
}

/** Reads a string flag. */
export function stringFlag (values: FlagValues, name: string): string | undefined {
  const v = values[name]
  if (Array.isArray(v)) return v[v.length - 1]
  return typeof v === 'string' ? v : undefined
}

/** Reads a repeatable string flag. */
export function listFlag (values: FlagValues, name: string): string[] {
  const v = values[name]
  if (Array.isArray(v)) return v
  return typeof v === 'string' ? [v] : []
}

/** Reads a boolean flag. */
export function boolFlag (values: FlagValues, name: string): boolean {
  return values[name] === true
}

/** Parses an integer flag within [min, max]; throws ERR_USAGE otherwise. */
export function intFlag (values: FlagValues, name: string, fallback: number, min: number, max: number): number {
  const raw = stringFlag(values, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw usageError(`--${name} must be a whole number, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw usageError(`--${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

/** Parses a seconds flag (decimals allowed) into milliseconds within [minS, maxS]. */
export function secondsFlag (values: FlagValues, name: string, fallbackMs: number, minS: number, maxS: number): number {
  const raw = stringFlag(values, name)
  if (raw === undefined) return fallbackMs
  if (!/^\d+(\.\d+)?$/.test(raw)) throw usageError(`--${name} must be a number of seconds, got "${raw}"`)
  const s = Number(raw)
  if (s < minS || s > maxS) throw usageError(`--${name} must be between ${minS} and ${maxS} seconds, got ${s}`)
  return Math.round(s * 1000)
}

/**
 * Parses a `HOST:PORT` flag value with the one {@link parseHostPort} (src/host-port.ts),
 * turning its ERR_INVALID_ADDRESS into a usage error (exit 2) that names the flag.
 */
export function hostPortFlag (value: string, flag: string, options: ParseHostPortOptions = {}): HostPort {
  try {
    return parseHostPort(value, options)
  } catch (err) {
    if (err instanceof ToolkitError && err.code === ErrorCode.InvalidAddress) throw usageError(`--${flag} must be HOST:PORT: ${err.message}`)
    throw err
  }
}

/**
 * Runs a CLI entry point: sets `process.exitCode` from its result, and turns usage errors
 * into one line on stderr with exit code 2 (or the code the error carries).
 */
export function runCli (name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
    const isUsage = err instanceof ToolkitError && err.code === ErrorCode.Usage
    const code = isUsage ? Number(err.details?.exitCode ?? 2) : 1
    process.stderr.write(`${name}: ${isUsage ? '' : 'error: '}${(err as Error).message ?? String(err)}\n`)
    process.exitCode = code
  })
}

/** The `--log-format` flag, for CLIs that log: JSON lines, or pino-pretty's one line per event for a terminal. */
export const LOG_FORMAT_FLAG: FlagSpec = { name: 'log-format', type: 'string', env: 'IICP_LOG_FORMAT', valueName: 'FORMAT', description: 'json (default) or pretty (one readable line per event, for a terminal)' }

/** Reads {@link LOG_FORMAT_FLAG}; throws ERR_USAGE for anything but `json` or `pretty`. */
export function logFormatFlag (values: FlagValues): LogFormat {
  const format = stringFlag(values, 'log-format') ?? 'json'
  if (!isLogFormat(format)) throw usageError(`--log-format must be json or pretty; got "${format}"`)
  return format
}
