// ESLint (flat config): @eslint/js and typescript-eslint's recommended rules over the TypeScript library and
// tests and the JavaScript tools (bench/, scripts/, fuzz/). `npm run lint`.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals that the .mjs tools use (the `globals` package is not a dependency, and these are few). */
const nodeGlobals = Object.fromEntries(
  [
    'AbortController', 'AbortSignal', 'Buffer', 'TextDecoder', 'TextEncoder', 'URL', 'URLSearchParams', 'clearImmediate',
    'clearInterval', 'clearTimeout', 'console', 'fetch', 'performance', 'process', 'queueMicrotask', 'setImmediate',
    'setInterval', 'setTimeout', 'structuredClone',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'build/', 'docs/', 'node_modules/', '.device/', 'native/', 'deploy/'] },
  {
    files: ['{lib,test,bench,scripts,fuzz}/**/*.{ts,mts,mjs,js}', '*.{js,ts}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: nodeGlobals },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Unused arguments keep a callback's documented signature; a leading underscore says it is on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and the tools' declaration files read untyped JSON (reports, protocol answers), where `any` is the honest
    // type; the library itself has none and keeps the rule.
    files: ['test/**/*.ts', 'scripts/**/*.d.mts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
