// ESLint (flat config): the recommended JavaScript and typescript-eslint rules over src/, test/,
// bench/ and scripts/, and the import direction of src/ (README, Layout) enforced with
// no-restricted-imports: cli → study, report → pipeline, eval, quant, data, model (engine between model
// and eval; train beside them, over model and data) → kernels → tensor, with util, errors.ts and
// version.ts below everything. Each folder lists the folders of src/ it must not import; the patterns are
// written per depth (src/x/a.ts imports '../y/…', src/x/s/a.ts imports '../../y/…'), so that a
// relative path is matched against the folder it really reaches.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const FOLDERS = [
  'cli',
  'study',
  'report',
  'pipeline',
  'eval',
  'quant',
  'train',
  'data',
  'engine',
  'model',
  'hub',
  'kernels',
  'tensor',
  'util',
];

/** What each folder of src/ may import (besides itself, errors.ts and version.ts). */
const MAY_IMPORT = {
  cli: FOLDERS,
  study: ['report', 'pipeline', 'eval', 'quant', 'data', 'engine', 'model', 'hub', 'kernels', 'tensor', 'util'],
  // a generic renderer of a study's figures over the pipeline's store
  report: ['pipeline', 'util'],
  // the engine of experiments knows nothing of models, data or studies
  pipeline: ['util'],
  eval: ['engine', 'data', 'model', 'kernels', 'tensor', 'util'],
  quant: ['engine', 'data', 'model', 'kernels', 'tensor', 'util'],
  // makes models (the built-in ones) from data; it does not run experiments
  train: ['data', 'model', 'kernels', 'tensor', 'util'],
  data: ['util'],
  engine: ['model', 'kernels', 'tensor', 'util'],
  model: ['kernels', 'tensor', 'util'],
  hub: ['util'],
  kernels: ['tensor', 'util'],
  tensor: ['util'],
  util: [],
};

/** One config block per folder and depth below it, forbidding the folders it may not import. */
function importDirection() {
  const blocks = [];
  for (const [folder, allowed] of Object.entries(MAY_IMPORT)) {
    const banned = FOLDERS.filter((f) => f !== folder && !allowed.includes(f));
    // the public API (src/index.ts, src/api.ts) is an entry: nothing inside src/ imports it
    const names = [...banned, 'index\\.ts$', 'api\\.ts$'];
    for (let depth = 1; depth <= 4; depth++) {
      const up = '\\.\\./'.repeat(depth);
      blocks.push({
        files: [`src/${folder}/${'*/'.repeat(depth - 1)}*.{ts,mts,js,mjs}`],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  regex: `^${up}(${names.map((n) => (n.endsWith('$') ? n : `${n}(/|\\.ts$)`)).join('|')})`,
                  message:
                    `src/${folder} may import only ${allowed.length ? allowed.join(', ') : 'nothing'} of src/ ` +
                    '(besides errors.ts, version.ts): see README, Layout.',
                },
              ],
            },
          ],
        },
      });
    }
  }
  // the public API imports anything but the CLI
  blocks.push({
    files: ['src/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^\\./cli(/|\\.ts$)', message: 'nothing but the CLI imports src/cli.' }],
        },
      ],
    },
  });
  return blocks;
}

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'models/',
      'data/',
      'runs/',
      'schema/',
      'bench/.cache/',
      'test/.out/',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        // Node 20's globals used across the code (no browser code here)
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        WebAssembly: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        fetch: 'readonly',
        queueMicrotask: 'readonly',
        globalThis: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
        Blob: 'readonly',
        crypto: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      // `let [q, k, v] = …` where only some are reassigned stays one declaration
      'prefer-const': ['error', { destructuring: 'all' }],
      // _-prefixed names are deliberately unused (a kind's unused argument, a skipped tuple slot)
      // 120 columns, as Prettier wraps code; like Prettier, a string, template literal, URL or regular
      // expression is not broken (a message is searched for whole), comments are
      'max-len': [
        'error',
        {
          code: 120,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreUrls: true,
          ignoreRegExpLiterals: true,
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  ...importDirection(),
);
