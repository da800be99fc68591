// Lint: typescript-eslint with type information. Workflow code runs in Temporal's deterministic sandbox,
// so workflows/ may not import Node built-ins, drivers, clients, or activity code as values.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'coverage/', 'test/helpers/*.js', 'jest.config.js', 'eslint.config.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Activity factories return object literals; their inferred types are the contract.
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in the Temporal sandbox: no Node built-ins' })),
            ...['pg', 'ioredis', 'mongodb', 'prom-client', 'fastify', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'].map((name) => ({
              name,
              message: 'workflow code must not use drivers, clients or worker APIs; call an activity',
            })),
          ],
          patterns: [
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'import activities as types only (import type)' },
            { group: ['**/config/**', '**/workers/**', '**/client/**', '**/demo/**', '**/scripts/**'], message: 'not workflow code' },
            { group: ['@temporalio/*/lib/**'], message: 'no imports from SDK internals' },
          ],
        },
      ],
    },
  },
  {
    // Dependencies run one way: client -> workflows -> activities -> common. Activities own the types of
    // what they do; names both sides share live in common/.
    files: ['activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./)+(workflows|client|workers)(/|$)', message: 'activities must not depend on workflows or clients; put shared names in common/' },
            { group: ['@temporalio/*/lib/**'], message: 'no imports from SDK internals' },
          ],
        },
      ],
    },
  },
  {
    files: ['common/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'common/ is sandbox-safe: no Node built-ins' })),
          patterns: [{ regex: '^(\\.\\./|@temporalio/[^/]+/lib/)', message: 'common/ depends on nothing of ours (and on no SDK internals)' }],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
