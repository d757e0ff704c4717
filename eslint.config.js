// ESLint flat config: type-aware rules that matter most for networking code.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }]
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }]
    }
  },
  // Layering (ARCHITECTURE.md; test/unit/layering.test.ts checks the same): src/ imports nothing
  // above it; relay/, worker/ and nat/ import only src/ and themselves; only */bin/** composes.
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/worker/**', '**/nat/**', '**/test/**'], message: 'src/ is the bottom layer: it imports nothing from relay/, worker/ or nat/' }] }] }
  },
  {
    files: ['relay/**/*.ts'],
    ignores: ['relay/bin/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/worker/**', '**/nat/**', '**/bin/**', '**/test/**'], message: 'relay/ depends on src/ only; composing components is for relay/bin/' }] }] }
  },
  {
    files: ['worker/**/*.ts'],
    ignores: ['worker/bin/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/nat/**', '**/bin/**', '**/test/**'], message: 'worker/ depends on src/ only; composing components is for worker/bin/' }] }] }
  },
  {
    files: ['nat/**/*.ts'],
    ignores: ['nat/bin/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/worker/**', '**/bin/**', '**/test/**'], message: 'nat/ depends on src/ only; composing components is for nat/bin/' }] }] }
  },
  {
    files: ['relay/bin/**/*.ts', 'worker/bin/**/*.ts', 'nat/bin/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/bin/**', '**/test/**'], message: 'a bin entry point composes components, never another entry point or test code' }] }] }
  },
  {
    files: ['eslint.config.js', 'src/cli/launch.js', '*/bin/*.launch.js'],
    ...tseslint.configs.disableTypeChecked
  }
)
