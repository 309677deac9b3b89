// The package as a user gets it: `npm pack`, the tarball installed into an empty folder (only the
// npm registry needed; ONNXRUNTIME_NODE_INSTALL=skip keeps onnxruntime-node from fetching its GPU
// add-ons elsewhere), then the installed `langquant` run through npx, and an ESM script that imports
// the public API — typed through the exports map — and scores ids. Slow (minutes: better-sqlite3 may
// build from source), so one test with a generous timeout; the times are printed as diagnostics.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers/checkpoints.ts';
import { BIN, GOLDEN, ROOT } from './helpers/cli.ts';

const MODEL = `${GOLDEN}models/gpt2-a`;
const IDS = [[464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13].map((i) => i % 1000), [1, 2, 3, 4, 5, 6, 7, 8]];

const SCRIPT = `import { createEngine, loadModel, scoreIds, VERSION } from 'langquant';
const model = loadModel(process.argv[2]);
const engine = await createEngine(model, 'reference');
const out = await scoreIds(engine, ${JSON.stringify(IDS)});
await engine.dispose();
let internal = 'reachable';
try { await import('langquant/dist/model/load.js'); } catch (e) { internal = e.code; }
console.log(JSON.stringify({ version: VERSION, meanNll: out.map((s) => s.meanNll), internal }));
`;

// Type-checks against the installed declarations (tsc from this checkout, run in the install folder).
const TYPED = `import { createEngine, loadModel, scoreIds, type Engine, type Model } from 'langquant';
const model: Model = loadModel('m');
const engine: Engine = await createEngine(model, 'auto');
const [s] = await scoreIds(engine, [[1, 2, 3]]);
const mean: number = s.meanNll;
export { mean };
`;

test(
  'npm pack, install the tarball into an empty folder, run npx langquant and import the API',
  { timeout: 20 * 60_000 },
  (t) => {
    const dir = tempDir(t, 'pack');
    const env = {
      ...process.env,
      ONNXRUNTIME_NODE_INSTALL: 'skip',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    };
    const npm = (args: string[], cwd: string) => {
      const t0 = Date.now();
      const r = spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 15 * 60_000 });
      assert.equal(r.status, 0, `npm ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Unknown (project|env|user) config/);
      return { ...r, seconds: (Date.now() - t0) / 1000 };
    };
    const packed = npm(['pack', '--pack-destination', dir], ROOT);
    const tarball = join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.tgz'))!,
    );
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }),
    );
    const installed = npm(['install', tarball], app);
    t.diagnostic(
      `npm pack ${packed.seconds.toFixed(1)} s, npm install of the tarball ${installed.seconds.toFixed(1)} s`,
    );

    const npx = (args: string[]) => {
      const t0 = Date.now();
      const r = spawnSync('npx', ['--no-install', 'langquant', ...args], {
        cwd: app,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `npx langquant ${args.join(' ')}:\n${r.stderr}`);
      assert.equal(r.stderr, '', 'nothing on stderr: no npm config warning, no notice');
      return { ...r, seconds: (Date.now() - t0) / 1000 };
    };
    const version = npx(['--version']);
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    assert.equal(version.stdout.trim(), pkg.version);
    t.diagnostic(`npx langquant --version ${version.seconds.toFixed(2)} s`);

    writeFileSync(join(app, 'ids.json'), JSON.stringify(IDS));
    const nll = JSON.parse(npx(['nll', '--model', MODEL, '--ids', 'ids.json', '--engine', 'reference']).stdout) as {
      sequences: { meanNll: number; nll: number[] }[];
    };
    // The same numbers as this checkout's own CLI.
    const here = JSON.parse(
      execFileSync(
        process.execPath,
        [BIN, 'nll', '--model', MODEL, '--ids', join(app, 'ids.json'), '--engine', 'reference'],
        { encoding: 'utf8' },
      ),
    );
    assert.deepEqual(nll, here);
    assert.equal(nll.sequences[0].nll.length, IDS[0].length - 1);

    writeFileSync(join(app, 'score.mjs'), SCRIPT);
    const api = JSON.parse(execFileSync(process.execPath, ['score.mjs', MODEL], { cwd: app, encoding: 'utf8' })) as {
      version: string;
      meanNll: number[];
      internal: string;
    };
    assert.equal(api.version, pkg.version);
    assert.deepEqual(
      api.meanNll,
      nll.sequences.map((s) => s.meanNll),
    );
    assert.equal(api.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED'); // only the exports map is public

    writeFileSync(join(app, 'typed.ts'), TYPED);
    const compilerOptions = {
      strict: true,
      skipLibCheck: true,
      target: 'es2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: [],
      noEmit: true,
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['typed.ts'] }));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const typed = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: app, encoding: 'utf8' });
    assert.equal(typed.status, 0, `the public API's declarations:\n${typed.stdout}${typed.stderr}`);
  },
);
