// The house rules a reviewer should not have to repeat: typescript-eslint's type-aware
// recommendations everywhere, and for product code the budgets STYLE.md sets (a function fits on a
// screen, four parameters at most, then an object). Formatting is Prettier's (.prettierrc.json).
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const PRODUCT = ['server/**/*.ts', 'shared/**/*.ts', 'canvas/**/*.ts']

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**', 'test/fixtures/**', 'test/artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { globals: globals.node, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Fastify plugins and hooks are async by contract, awaited or not.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: PRODUCT,
    ignores: ['shared/db/migrations/**'], // frozen in time: a migration is never edited to fit a budget
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'max-params': ['error', 4],
    },
  },
  {
    // tap's subtests need not be awaited, and tests read untyped JSON answers on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['sandbox/demo/web/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
)
