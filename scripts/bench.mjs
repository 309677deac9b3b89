// `npm run bench`: runs bench/run.ts (TypeScript, through tsx) with the arguments given.
// Example: npm run bench -- --repeat 3
import { spawnSync } from 'node:child_process';

const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
