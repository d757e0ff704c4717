/** The README's library examples (test/examples/*.ts), what each prints, and the environment they read. */
import { bindTicketPublicKeyFromSeed } from '../../src/index.ts'

/** Every example file and the stdout it must print. */
export const EXAMPLES: Record<string, RegExp> = {
  'relay-and-worker.ts': /^\{"echo":\{"q":1\}\}\n$/,
  'strict-relay.ts': /^strict relay on http \d+, relay-accept \d+\n$/,
  'nat-probe.ts': /^\S+ \S+\n$/
}

/** Environment the examples read (a throwaway directory key). */
export const EXAMPLE_ENV = { DIRECTORY_KEY: bindTicketPublicKeyFromSeed('11'.repeat(32)) }

/** Where the example files live. */
export const EXAMPLES_DIR = new URL('../examples/', import.meta.url)
