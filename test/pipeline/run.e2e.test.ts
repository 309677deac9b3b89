// End to end through the real CLI in temporary folders: a pipeline of small test kinds that time
// out, crash, write NaN, ignore SIGTERM, fail once, depend on failures; then reuse, a model swap that
// reruns exactly what it affects, --force, reproducible replicate seeds, plan, and import.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.ts';
import { withStore } from '../helpers/store.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'lq-run-'));

function status(dir: string) {
  const r = runCli(['status', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    experiments: {
      id: string;
      status: string;
      reason: string | null;
      source: string | null;
      note: string | null;
      attempts: number;
    }[];
    questions: { id: string; question: string; status: string; evidence: string }[];
  };
}
const byId = (s: ReturnType<typeof status>) => Object.fromEntries(s.experiments.map((e) => [e.id, e]));

test('mixed pipeline: failures are recorded with reasons, dependents blocked, independents run, exit code 1', () => {
  const dir = join(tmp(), 'run');
  const r = runCli(['run', join(FIX, 'mixed.yaml'), '--out', dir]);
  assert.equal(r.code, 1, r.stderr);
  const s = status(dir);
  const e = byId(s);
  assert.deepEqual(Object.fromEntries(s.experiments.map((x) => [x.id, x.status])), {
    'E-001': 'passed',
    'E-002': 'passed',
    'E-003': 'failed',
    'E-004': 'blocked',
    'E-005': 'failed',
    'E-006': 'failed',
    'E-007': 'failed',
    'E-008': 'blocked',
    'E-009': 'passed',
    'E-010': 'failed',
  });
  assert.match(e['E-003'].reason!, /timed out after 1\.0s$/);
  assert.match(e['E-004'].reason!, /^needs E-003, which failed \(replicate 0: timed out after 1\.0s\)/);
  assert.match(e['E-008'].reason!, /E-003, which failed/); // the root cause, through the blocked E-004
  assert.match(e['E-005'].reason!, /exited with code 3 without a result: about to crash/);
  assert.match(e['E-006'].reason!, /key metric 'loss' is NaN language fr/);
  assert.match(e['E-007'].reason!, /boom: the kind threw/);
  assert.match(e['E-010'].reason!, /timed out after 3\.0s \(killed: still running 300ms after SIGTERM\)/);
  assert.equal(e['E-009'].attempts, 2); // failed once, retried
  assert.deepEqual(
    s.questions.map((q) => [q.id, q.status]),
    [
      ['Q1', 'CONFIRMED'],
      ['Q2', 'CONFIRMED'],
      ['Q3', 'PENDING'],
    ],
  );
  assert.match(s.questions[0].evidence, /^ratio 3\.00\/1\.50 \(low ≥ 2\.\d\d\), consistent in 2\/2 replicates$/);
  assert.match(s.questions[2].evidence, /^waiting for E-008 \(blocked: needs E-003/);
  // logs, NaN flags, artifacts, provenance
  assert.match(readFileSync(join(dir, 'logs', 'E-005.r0.log'), 'utf8'), /about to crash\n==== crashed/);
  assert.match(readFileSync(join(dir, 'logs', 'E-001.r1.log'), 'utf8'), /emitted 3 languages with seed/);
  withStore(dir, (st) => {
    const flags = st.db
      .prepare(`SELECT metric, language, flag, value FROM metrics WHERE experiment_id = 'E-006' ORDER BY rowid`)
      .all();
    assert.deepEqual(flags, [
      { metric: 'loss', language: 'en', flag: 'finite', value: 1.5 },
      { metric: 'loss', language: 'fr', flag: 'nan', value: null },
      { metric: 'other', language: null, flag: '-inf', value: null },
    ]);
    const arts = st.artifacts('E-001');
    assert.equal(arts.length, 2);
    assert.ok(existsSync(join(dir, arts[0].path)) && /^[0-9a-f]{64}$/.test(arts[0].sha256));
    const seeds = st.metrics('E-001', undefined, { metric: 'seed' }).map((m) => m.value);
    assert.equal(new Set(seeds).size, 2);
    const prov = st.provenance(st.latestRun()!.id);
    assert.equal(prov.node, process.version);
    assert.match(prov.packages, /better-sqlite3/);
    assert.ok('git_commit' in prov && 'machine' in prov && 'replicate_seeds' in prov);
    assert.equal(st.summarize('E-001').find((x) => x.metric === 'score' && x.language === 'sw')!.n, 2);
  });

  // Importing a result for the timed-out experiment lets its dependents run, labelled everywhere.
  const results = join(tmp(), 'r.csv');
  writeFileSync(results, 'experiment,metric,value,replicate\nE-003,slept,5000,0\nE-003,score,2.5,0\n');
  const imp = runCli(['import', results, '--into', dir, '--note', 'from EXP-039 v3']);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stdout, /imported E-003: 2 metric\(s\) in 1 replicate\(s\) — from EXP-039 v3/);
  const r2 = runCli(['run', join(FIX, 'mixed.yaml'), '--out', dir, '--only', 'E-004,E-002,E-009']);
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /E-003 up to date \(imported: from EXP-039 v3\)/);
  assert.match(r2.stdout, /E-001 up to date \(stored result reused\)/);
  const e2 = byId(status(dir));
  assert.equal(e2['E-003'].source, 'import');
  assert.equal(e2['E-003'].note, 'from EXP-039 v3');
  assert.equal(e2['E-004'].status, 'passed');
  assert.equal(e2['E-001'].attempts, 2); // reused, not rerun
  withStore(dir, (st) => {
    assert.deepEqual(
      st.metrics('E-004', undefined, { metric: 'total' }).map((m) => m.value),
      [2.5],
    );
    assert.ok(st.metrics('E-003').every((m) => m.source === 'import'));
  });
  // A plan now: what passed or was imported is up to date; only the failures (and what waits on them) would run.
  const p = JSON.parse(runCli(['plan', join(FIX, 'mixed.yaml'), '--out', dir, '--json']).stdout) as {
    experiments: { id: string; action: string }[];
  };
  assert.deepEqual(Object.fromEntries(p.experiments.map((x) => [x.id, x.action])), {
    'E-001': 'up to date',
    'E-002': 'up to date',
    'E-003': 'up to date (imported)',
    'E-004': 'up to date',
    'E-005': 'run',
    'E-006': 'run',
    'E-007': 'run',
    'E-008': 'run',
    'E-009': 'up to date',
    'E-010': 'run',
  });
  const bad = runCli(['import', results, '--into', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /say where these results come from with --note/);
});

test('a passing pipeline: second run reuses everything; a model swap reruns exactly what uses it; --force invalidates dependents', () => {
  const dir = join(tmp(), 'run');
  const file = join(FIX, 'small.yaml');
  const p0 = runCli(['plan', file, '--out', dir, '--json']);
  assert.equal(p0.code, 0, p0.stderr);
  assert.deepEqual(
    JSON.parse(p0.stdout).experiments.map((x: { id: string; action: string }) => `${x.id}:${x.action}`),
    ['S-1:run', 'S-2:run', 'S-3:run', 'S-4:run'],
  );

  const r1 = runCli(['run', file, '--out', dir]);
  assert.equal(r1.code, 0, r1.stdout + r1.stderr);
  assert.match(r1.stdout, /done: 4 passed; 4 ran, 0 reused/);
  assert.match(r1.stdout, /Q1 +Is sw above en\? +CONFIRMED +sw \d\.\d\d vs en \d\.\d\d/);
  const scores1 = withStore(dir, (st) => st.metrics('S-1', undefined, { metric: 'score' }).map((m) => m.value));

  const m = JSON.parse(runCli(['status', dir, '--metrics', 'S-1', '--json']).stdout);
  const sw = m.metrics.find(
    (x: { language: string | null; metric: string }) => x.language === 'sw' && x.metric === 'score',
  );
  assert.equal(sw.n, 2);
  assert.ok(sw.lo < sw.mean && sw.mean < sw.hi && sw.sd > 0);

  const r2 = runCli(['run', file, '--out', dir]);
  assert.equal(r2.code, 0);
  assert.match(r2.stdout, /done: 4 passed; 0 ran, 4 reused/);
  const p1 = JSON.parse(runCli(['plan', file, '--out', dir, '--json']).stdout);
  assert.ok(p1.experiments.every((x: { action: string }) => x.action === 'up to date'));

  const r3 = runCli(['run', file, '--out', dir, '--model', `m=${join(FIX, 'model-b')}`]);
  assert.equal(r3.code, 0, r3.stdout + r3.stderr);
  assert.match(r3.stdout, /done: 4 passed; 2 ran, 2 reused/);
  withStore(dir, (st) => {
    assert.equal(st.attempts('S-3').length, 1);
    assert.equal(st.attempts('S-1').length, 4);
    // the same seed reproduces the same numbers bit for bit (the emit kind does not read the model)
    assert.deepEqual(
      st.metrics('S-1', undefined, { metric: 'score' }).map((m) => m.value),
      scores1,
    );
  });

  const r4 = runCli(['run', file, '--out', dir, '--force', 'S-3']);
  assert.equal(r4.code, 0);
  assert.match(r4.stdout, /done: 4 passed; 2 ran, 2 reused/);
  withStore(dir, (st) => {
    assert.equal(st.attempts('S-3').length, 2);
    assert.equal(st.attempts('S-4').length, 2);
    assert.equal(st.metrics('S-4').filter((m) => m.metric === 'total').length, 1); // latest attempt only
  });

  const bad = runCli(['run', file, '--out', dir, '--only', 'S-9']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--only S-9: no experiment has this id \(ids: S-1, S-2, S-3, S-4\)/);
  const missing = runCli(['run', file, '--out', dir, '--model', 'm=/no/such/model']);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stdout,
    /S-1 blocked: model 'm' has no checkpoint at \/no\/such\/model: put a Hugging Face checkpoint folder there or pass --model m=DIR/,
  );
  assert.match(missing.stdout, /S-2 blocked: needs S-1, which is blocked/);
});
