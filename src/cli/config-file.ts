/**
 * The `--config FILE` layer of the CLIs: a TOML file whose keys are the long flag names of the
 * command (derived from its {@link FlagSpec}s, so every flag has a key), read below flags and
 * environment variables. Unknown keys, tables and values of the wrong type are usage errors
 * that name the file and line.
 */
import { readFileSync } from 'node:fs'
import { parse, TomlError } from 'smol-toml'
import { ToolkitError, ErrorCode } from '../errors.ts'
import type { FlagSpec, FlagValues, ResolvedFlags } from './args.ts'

/** Flags that make no sense in a file. */
const NOT_IN_FILE = new Set(['help', 'version', 'config'])

/**
 * Reads `path` and returns the values it sets, keyed by flag name. Throws ERR_USAGE (exit
 * `exitCode`) for an unreadable file, bad TOML, an unknown key or a value of the wrong type.
 */
export function readConfigFile (path: string, specs: readonly FlagSpec[], exitCode = 2): FlagValues {
  const fail = (message: string, line?: number): ToolkitError =>
    new ToolkitError(ErrorCode.Usage, `${path}${line === undefined ? '' : `:${line}`}: ${message}`, { details: { exitCode } })
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw fail(`cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let table: Record<string, unknown>
  try {
    table = parse(text)
  } catch (err) {
    if (err instanceof TomlError) throw fail(err.message.split('\n')[0] ?? 'invalid TOML', err.line)
    throw err
  }
  const byName = new Map(specs.filter(s => !NOT_IN_FILE.has(s.name)).map(s => [s.name, s]))
  const values: FlagValues = {}
  for (const [key, raw] of Object.entries(table)) {
    const spec = byName.get(key)
    if (spec === undefined) throw fail(`unknown key "${key}" (keys are the long flag names: --help lists them)`, lineOf(text, key))
    const value = flagValue(spec, raw)
    if (value === undefined) throw fail(`"${key}" ${expected(spec)}`, lineOf(text, key))
    values[key] = value
  }
  return values
}

/** The flag value for a TOML value, or undefined when its type does not fit the flag. */
function flagValue (spec: FlagSpec, raw: unknown): string | boolean | string[] | undefined {
  if (spec.type === 'boolean') return typeof raw === 'boolean' ? raw : undefined
  const scalar = (v: unknown): string | undefined => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ? String(v) : undefined
  if (spec.multiple !== true) return scalar(raw)
  const list = Array.isArray(raw) ? raw.map(scalar) : [scalar(raw)]
  return list.every(v => v !== undefined) ? list : undefined
}

/** What a key's value must be, for the error message. */
function expected (spec: FlagSpec): string {
  if (spec.type === 'boolean') return 'must be true or false'
  return spec.multiple === true ? 'must be a string or number, or a list of them' : 'must be a string or a number'
}

/** The 1-based line where `key` is set or opens a table, if it can be found. */
function lineOf (text: string, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const pattern = new RegExp(`^\\s*(\\[+\\s*)?(["']?)${escaped}\\2\\s*[.=\\]]`)
  const index = text.split(/\r?\n/).findIndex(line => pattern.test(line))
  return index === -1 ? undefined : index + 1
}

/** Values shown as `[redacted]` by {@link formatEffectiveConfig}: tokens, tickets, secrets, private keys. */
function isSecret (spec: FlagSpec): boolean {
  if (spec.secret === true) return true
  return !spec.name.endsWith('public-key') && /token|secret|password|private|^ticket$|(^|-)key$/.test(spec.name)
}

/**
 * The effective configuration as TOML (usable as a config file), one key per line with where
 * its value came from, secrets redacted. Keys not set anywhere use their defaults (`--help`).
 */
export function formatEffectiveConfig (specs: readonly FlagSpec[], resolved: ResolvedFlags): string {
  const lines = [`# effective configuration${resolved.configFile === undefined ? '' : ` (config file ${resolved.configFile})`}; flags > environment > file; unset keys use their defaults`]
  for (const spec of specs) {
    const value = resolved.values[spec.name]
    if (value === undefined || NOT_IN_FILE.has(spec.name)) continue
    const source = resolved.sources[spec.name]
    const from = source === 'env' ? `env ${spec.env ?? ''}` : source ?? 'flag'
    const shown = isSecret(spec) ? JSON.stringify('[redacted]') : Array.isArray(value) ? `[${value.map(v => JSON.stringify(v)).join(', ')}]` : typeof value === 'boolean' ? String(value) : JSON.stringify(value)
    lines.push(`${spec.name} = ${shown}  # ${from}`)
  }
  return `${lines.join('\n')}\n`
}
