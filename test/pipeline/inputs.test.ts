// Bad input that must be one line, not a stack trace (a folder for a pipeline file, a damaged store,
// a run folder that is a file, broken or mistyped results files); JSON imports; scoring of
// inconsistent replicates; the terminal progress (bar on a TTY, plain lines elsewhere); the child
// loads only its kind's module; and the run/plan flags --fail-fast, --from, --replicates, --seed
// through the real CLI.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, DataError } from '../../src/errors.ts';
import { RunProgress } from '../../src/cli/progress.ts';
import { importResults, readResultsFile } from '../../src/pipeline/import.ts';
import { KindRegistry } from '../../src/pipeline/kind.ts';
import { planPipeline, type Plan } from '../../src/pipeline/plan.ts';
import { runPipeline, scoreExperiment } from '../../src/pipeline/runner.ts';
import { loadPipeline, type ExperimentSpec, type PipelineSpec } from '../../src/pipeline/spec.ts';
import { STORE_FILE, Store } from '../../src/pipeline/store.ts';
import { runCli } from '../helpers/cli.ts';

const FIX = fileURLToPath(new URL('../fixtures/pipelines/', import.meta.url));
const KINDS = join(FIX, 'kinds.ts');
const tmp = () => mkdtempSync(join(tmpdir(), 'lq-inputs-'));

test('a folder given as a pipeline file is named, not a crash', async () => {
  await assert.rejects(
    loadPipeline(tmp(), new KindRegistry()),
    (e: Error) =>
      e instanceof ConfigError &&
      /is a folder, not a pipeline file; give the path of a pipeline YAML file/.test(e.message),
  );
});

test('a damaged store or a run folder that is a file gives a one-line error', () => {
  const d = tmp();
  writeFileSync(
    join(d, STORE_FILE),
    'this is not SQLite, it is long enough to not be an empty database file at all\n'.repeat(20),
  );
  for (const open of [() => Store.open(d), () => Store.openReadOnly(d)])
    assert.throws(
      open,
      (e: Error) =>
        e instanceof ConfigError &&
        /langquant\.sqlite is not a readable langquant store \(file is not a database\); move it away or use another run folder/.test(
          e.message,
        ),
    );
  const f = join(tmp(), 'file');
  writeFileSync(f, 'x');
  assert.throws(
    () => Store.open(f),
    (e: Error) => e instanceof ConfigError && /run folder .*file is a file, not a folder/.test(e.message),
  );
  // through the CLI: one line on stderr, exit 2
  const r = runCli(['status', d]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /is not a readable langquant store/);
});

test('results files: JSON with a note and non-finite values; broken CSV, folders and unknown ids are named', () => {
  const d = tmp();
  const json = join(d, 'r.json');
  writeFileSync(
    json,
    JSON.stringify({
      note: 'from EXP-039 v3',
      rows: [
        { experiment: 'A', metric: 'm', value: 'NaN', language: 'en' },
        { experiment: 'A', metric: 'm', value: 2, replicate: 1 },
        { experiment: 'B', metric: 'k', value: '-Infinity' },
      ],
    }),
  );
  const { rows, note } = readResultsFile(json);
  assert.equal(note, 'from EXP-039 v3');
  assert.ok(Number.isNaN(rows[0].value) && rows[0].language === 'en' && rows[0].replicate === 0);
  assert.equal(rows[1].replicate, 1);
  assert.equal(rows[2].value, -Infinity);

  const run = join(d, 'run');
  const s = importResults(run, rows, note!);
  assert.deepEqual(
    s.experiments.map((e) => [e.id, e.replicates, e.metrics]),
    [
      ['A', 2, 2],
      ['B', 1, 1],
    ],
  );
  const st = Store.openReadOnly(run)!;
  try {
    assert.ok(st.metrics('A').every((m) => m.source === 'import'));
    assert.equal(st.experiment('B')!.note, 'from EXP-039 v3');
    assert.deepEqual(st.db.prepare(`SELECT flag FROM metrics WHERE experiment_id = 'B'`).all(), [{ flag: '-inf' }]);
  } finally {
    st.close();
  }

  const csv = join(d, 'r.csv');
  writeFileSync(csv, 'experiment,metric,value\n"A,m,1\n');
  assert.throws(
    () => readResultsFile(csv),
    (e: Error) => e instanceof DataError && /r\.csv: a quoted CSV field is never closed/.test(e.message),
  );
  assert.throws(
    () => readResultsFile(d),
    (e: Error) => e instanceof DataError && /is a folder; give a \.json or \.csv file/.test(e.message),
  );

  // Once a pipeline has run in the folder, an id it does not have is a typo: nothing is written.
  const ran = join(d, 'ran');
  const w = Store.open(ran);
  w.beginRun({
    pipelineFile: null,
    pipeline: { experiments: [{ id: 'E-1' }, { id: 'E-2' }] },
    options: null,
    toolVersion: 't',
    pid: process.pid,
  });
  w.close();
  assert.throws(
    () => importResults(ran, [{ experiment: 'E-3', metric: 'm', value: 1, replicate: 0 }], 'n'),
    (e: Error) =>
      e instanceof DataError &&
      /experiment 'E-3' is not in the pipeline run in .* \(ids: E-1, E-2\); fix the experiment column/.test(e.message),
  );
  const r2 = Store.openReadOnly(ran)!;
  assert.equal(r2.attempts().length, 0);
  r2.close();
});

test('scoring: replicates that disagree fail the experiment with the reason; agreeing ones pass', async () => {
  const registry = await KindRegistry.load([KINDS]);
  const s = Store.open(tmp());
  try {
    const run = s.beginRun({ pipelineFile: null, pipeline: {}, options: null, toolVersion: 't', pid: process.pid });
    const e = { id: 'F', kind: 'flip', params: {}, replicates: 2 } as unknown as ExperimentSpec;
    const put = (fp: string, k: number, sign: number) => {
      const a = s.startAttempt({
        runId: run,
        experiment: 'F',
        fingerprint: fp,
        replicate: k,
        try: 1,
        seed: k,
        logPath: 'l',
      });
      s.finishAttempt(
        a,
        { status: 'passed', durationMs: 1, exitCode: 0, signal: null, error: null },
        ['a', 'b', 'c', 'd'].map((lang, i) => ({ metric: 'effect', value: sign * (i + 1), language: lang })),
      );
    };
    put('bad', 0, 1);
    put('bad', 1, -1);
    const bad = scoreExperiment(s, registry, e, 'bad', 2);
    assert.equal(bad.status, 'failed');
    assert.match(bad.reason!, /^inconsistent across replicates: consistent in \d\/2 replicates: effect r\d has sign/);
    put('good', 0, 1);
    put('good', 1, 1);
    const good = scoreExperiment(s, registry, e, 'good', 2);
    assert.equal(good.status, 'passed');
    assert.equal(good.consistency!.agreeing, 2);
    const missing = scoreExperiment(s, registry, e, 'good', 3);
    assert.equal(missing.status, 'failed');
    assert.match(missing.reason!, /no passing result for replicate\(s\) 2/);
  } finally {
    s.close();
  }
  // An imported result must meet the same bar: its kind's key metrics recorded and finite.
  const d = tmp();
  const imp = importResults(d, [{ experiment: 'K', metric: 'slept', value: NaN, replicate: 0 }], 'from elsewhere');
  const st = Store.openReadOnly(d)!;
  try {
    const sc = scoreExperiment(
      st,
      registry,
      { id: 'K', kind: 'sleep', params: { ms: 1 }, replicates: 1 } as unknown as ExperimentSpec,
      imp.experiments[0].fingerprint,
      1,
    );
    assert.equal(sc.status, 'failed');
    assert.equal(sc.reason, "replicate 0 (imported): key metric 'slept' is NaN");
  } finally {
    st.close();
  }
});

test("import scores replicates like a run: the kind's consistency where the pipeline is known, else defaultConsistency over the rows", async () => {
  const registry = await KindRegistry.load([KINDS]);
  const rows = (signs: number[]) =>
    signs.flatMap((sign, k) =>
      ['a', 'b', 'c', 'd'].map((lang, i) => ({
        experiment: 'F',
        metric: 'effect',
        value: sign * (i + 1),
        language: lang,
        model: null,
        replicate: k,
      })),
    );
  const withPipeline = () => {
    const d = tmp();
    const w = Store.open(d);
    w.beginRun({
      pipelineFile: null,
      pipeline: { experiments: [{ id: 'F', kind: 'flip', params: {}, phase: 'A', question: 'Q1' }] },
      options: null,
      toolVersion: 't',
      pid: process.pid,
    });
    w.close();
    return d;
  };
  const state = (d: string) => {
    const st = Store.openReadOnly(d)!;
    try {
      return st.experiment('F')!;
    } finally {
      st.close();
    }
  };
  // Known pipeline and kind: the kind's rule decides, with its reason; kind and phase come from the pipeline.
  const good = withPipeline();
  const s1 = importResults(good, rows([1, 1, 1]), 'from EXP-039 v3', registry);
  assert.equal(s1.experiments[0].status, 'passed');
  const e1 = state(good);
  assert.deepEqual(
    [e1.status, e1.kind, e1.phase, e1.source, e1.complete, e1.consistency?.agreeing, e1.consistency?.total],
    ['passed', 'flip', 'A', 'import', true, 3, 3],
  );
  const bad = withPipeline();
  importResults(bad, rows([1, -1, 1]), 'from EXP-039 v3', registry);
  const e2 = state(bad);
  assert.equal(e2.status, 'failed');
  assert.match(e2.reason!, /^inconsistent across replicates: consistent in 2\/3 replicates: effect r1 has sign -1/);
  assert.deepEqual([e2.consistency?.agreeing, e2.consistency?.total], [2, 3]);
  // A key metric missing from an imported replicate fails it as a run would.
  const nokey = withPipeline();
  importResults(
    nokey,
    [{ experiment: 'F', metric: 'other', value: 1, model: null, language: null, replicate: 0 }],
    'n',
    registry,
  );
  assert.equal(state(nokey).reason, "replicate 0 (imported): key metric 'effect' was not recorded");
  // No pipeline known: defaultConsistency over the metrics recorded (finite) in every replicate.
  const bare = tmp();
  importResults(bare, rows([1, -1, 1]), 'n');
  const e3 = state(bare);
  assert.equal(e3.status, 'failed');
  assert.deepEqual([e3.consistency?.agreeing, e3.consistency?.total], [2, 3]);
  const bareGood = tmp();
  importResults(bareGood, rows([1, 1]), 'n');
  assert.deepEqual([state(bareGood).status, state(bareGood).consistency?.total], ['passed', 2]);
});

test('the registry knows which module each kind comes from (a child loads only that one)', async () => {
  const registry = await KindRegistry.load([KINDS]);
  assert.equal(registry.moduleOf('sleep'), pathToFileURL(KINDS).href);
  assert.equal(registry.moduleOf('nope'), undefined);
});

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  columns = 160;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function fakePlan(): { plan: Plan; spec: PipelineSpec } {
  const exp = (id: string): ExperimentSpec => ({
    id,
    kind: 'k',
    title: null,
    phase: null,
    question: null,
    models: [],
    params: {},
    dependsOn: [],
    expectedRuntimeMs: 60_000,
    timeoutMs: 3_600_000,
    replicates: 1,
    retries: 0,
  });
  const spec: PipelineSpec = {
    file: null,
    dir: '/',
    name: 't',
    description: null,
    kindModules: [],
    seed: 0,
    killGraceMs: 1000,
    models: {},
    corpus: { groups: {} },
    experiments: [exp('E-1'), exp('E-2')],
    questions: [],
  };
  return { plan: planPipeline(spec, { version: 'v', dataHash: 'd', modelHashes: {} }), spec };
}

test('progress: plain lines with elapsed time and ETA when not a terminal; a live bar for inner loops on a terminal', async () => {
  const { plan, spec } = fakePlan();
  const start = {
    type: 'start',
    id: 'E-1',
    replicate: 0,
    replicates: 1,
    try: 1,
    index: 1,
    count: 2,
    expectedMs: 60_000,
    remainingMs: 120_000,
    logPath: '/r/logs/E-1.r0.log',
  } as const;
  const plain = new Capture(false);
  const p = new RunProgress(plain);
  p.handle({ type: 'plan', plan, spec, runId: 1 });
  p.handle(start);
  p.handle({ type: 'progress', id: 'E-1', replicate: 0, label: 'languages', done: 3, total: 3 });
  p.handle({
    type: 'end',
    id: 'E-1',
    replicate: 0,
    status: 'passed',
    durationMs: 61_000,
    error: null,
    willRetry: false,
  });
  p.stop();
  assert.match(plain.text, /^run 1: 2 experiment\(s\), 2 to run \(expected 2m00s\), 0 up to date\n/);
  assert.match(plain.text, /\[1\/2\] E-1 r0 started, expected 1m00s, ETA (2m00s|1m59s); log \/r\/logs\/E-1\.r0\.log\n/);
  assert.match(plain.text, /E-1 r0 languages 3\/3, \d+ms elapsed\n/);
  assert.match(plain.text, /E-1 r0 passed in 1m01s\n/);
  // eslint-disable-next-line no-control-regex -- the ESC of a terminal escape is what is looked for
  assert.doesNotMatch(plain.text, /\x1b\[/); // no terminal escapes in logs

  const tty = new Capture(true);
  const t = new RunProgress(tty);
  t.handle({ type: 'plan', plan, spec, runId: 1 });
  t.handle(start);
  t.handle({ type: 'progress', id: 'E-1', replicate: 0, label: 'languages', done: 2, total: 5 });
  await new Promise((r) => setTimeout(r, 250)); // the bar redraws at 5 frames a second
  t.handle({ type: 'progress', id: 'E-1', replicate: 0, label: 'languages', done: 4, total: 5 });
  await new Promise((r) => setTimeout(r, 250));
  assert.match(tty.text, /\[1\/2\] E-1 r0 .*languages [24]\/5 \| \d+ms elapsed \| ETA \d+(\.\d)?s \(all \d+m\d\ds\)/);
  t.handle({ type: 'end', id: 'E-1', replicate: 0, status: 'passed', durationMs: 500, error: null, willRetry: false });
  t.stop();
  assert.match(tty.text, /E-1 r0 passed in 500ms\n/);
});

test('CLI: --fail-fast leaves the rest pending; --from, --replicates and --seed shape the plan', () => {
  const d = tmp();
  const file = join(d, 'p.yaml');
  mkdirSync(join(d, 'run'));
  writeFileSync(
    file,
    `kinds: ${KINDS}\nexperiments:\n  - { id: A, kind: crash }\n  - { id: B, kind: sleep, params: { ms: 1 } }\n  - { id: C, kind: sum, dependsOn: [B] }\n`,
  );
  const r = runCli(['run', file, '--out', join(d, 'run'), '--fail-fast']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /done: 0 passed, 1 failed \(A\), 2 not run; 1 ran/);
  const s = JSON.parse(runCli(['status', join(d, 'run'), '--json']).stdout) as {
    experiments: { id: string; status: string; reason: string }[];
  };
  assert.deepEqual(
    s.experiments.map((e) => `${e.id}:${e.status}`),
    ['A:failed', 'B:pending', 'C:pending'],
  );
  assert.match(s.experiments[1].reason, /not run: --fail-fast stopped after A failed/);

  type PlanJson = { experiments: { id: string; selected: boolean; replicates: number; fingerprint: string }[] };
  const plan = (...args: string[]) =>
    JSON.parse(runCli(['plan', file, '--out', join(d, 'none'), '--json', ...args]).stdout) as PlanJson;
  const base = plan();
  const other = plan('--from', 'B', '--replicates', '3', '--seed', '5');
  assert.deepEqual(
    other.experiments.filter((e) => e.selected).map((e) => e.id),
    ['B', 'C'],
  );
  assert.ok(other.experiments.every((e) => e.replicates === 3));
  // the seed enters every fingerprint
  assert.ok(other.experiments.every((e, i) => e.fingerprint !== base.experiments[i].fingerprint));
});

test('a run that cannot start (missing corpus.path) ends its run row instead of leaving it running', async () => {
  const d = tmp();
  const file = join(d, 'p.yaml');
  writeFileSync(
    file,
    `kinds: ${KINDS}\ncorpus: { path: ./no-such-corpus }\nexperiments:\n  - { id: A, kind: sleep, params: { ms: 1 } }\n`,
  );
  const { spec, registry } = await loadPipeline(file, new KindRegistry());
  const runDir = join(d, 'run');
  await assert.rejects(
    runPipeline({ spec, registry, runDir }),
    /corpus path .*no-such-corpus does not exist; fix corpus\.path/,
  );
  const st = Store.openReadOnly(runDir)!;
  try {
    assert.deepEqual(
      st.runs().map((r) => r.status),
      ['failed'],
    );
  } finally {
    st.close();
  }
});
