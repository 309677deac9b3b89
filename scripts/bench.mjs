// `npm run bench`: builds dist/ (the bench times the built `langquant`, as users run it), then runs
// bench/run.ts (TypeScript, through tsx) with the arguments given; `node scripts/bench.mjs study|llama …`
// (npm run bench:study, bench:llama) runs bench/study.ts or bench/llama.ts instead.
// Example: npm run bench -- --repeat 3
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const named = ['study', 'llama'].includes(process.argv[2] ?? '');
const script = named ? `bench/${process.argv[2]}.ts` : 'bench/run.ts';
const rest = process.argv.slice(named ? 3 : 2);
const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
