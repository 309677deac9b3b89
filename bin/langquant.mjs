#!/usr/bin/env node
// langquant's executable: the CLI compiled to dist/ by `npm run build` (which `npm install` runs
// through the `prepare` script). Running from a checkout without a build says what to do.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('langquant: the compiled CLI (dist/) is missing; run `npm run build` in the langquant folder\n');
  process.exit(1);
}
await import(main.href);
