// ESLint flat config: type-aware rules that matter most for networking code.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
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
  {
    files: ['relay/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/worker/**', '**/nat/**'], message: 'relay/ depends on src/ only' }] }] }
  },
  {
    files: ['worker/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/nat/**'], message: 'worker/ depends on src/ only' }] }] }
  },
  {
    files: ['nat/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/worker/**'], message: 'nat/ depends on src/ only' }] }] }
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/relay/**', '**/worker/**', '**/nat/**'], message: 'src/ core must not depend on relay/, worker/ or nat/ (only src/cli composes them)' }] }] }
  },
  {
    files: ['src/cli/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' }
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked
  }
)
