// The whole built-in study (pipelines/disparity.yaml: its experiments, kinds and question rules) run
// by the real CLI in a temporary folder on the shipped mini models, on reduced settings: 4 languages,
// 3 evaluation units each, 200 bootstrap resamples, one replicate. Every experiment must pass and
// every question be decided; `status --json` has the documented shape; a second run reuses all; the
// report is rendered from the study's own output with every figure filled, so the metric names the
// kinds record and the names the figures read cannot drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/pipeline/store.ts';
import { buildReport } from '../../src/report/write.ts';
import { STUDY_REPORT } from '../../src/study/figures/index.ts';
import { MEASURING, reducedBuiltin } from '../helpers/builtin.ts';
import { runCli } from '../helpers/cli.ts';

/** The built-in pipeline, reduced: same experiments and rules, fewer languages and units. */
function reducedPipeline(dir: string): string {
  return reducedBuiltin(dir, {
    groups: { high: ['eng', 'fra'], low: ['yor', 'amh'] },
    experiment: (e) => {
      if (MEASURING.has(e.kind)) Object.assign(e.params, { maxUnits: 3, resamples: 200 });
      if (e.kind === 'disparity' || e.kind === 'preservationControls') e.params.resamples = 200;
      if (e.kind === 'preserve' || e.kind === 'layerPreservation' || e.kind === 'method')
        e.params.calibrationTokens = 512;
    },
  });
}

test(
  'the built-in study end to end: every experiment passes, every question decided, second run reuses all, the report has every figure',
  { timeout: 600_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'langquant-study-'));
    try {
      const file = reducedPipeline(dir);
      const out = join(dir, 'run');
      const r1 = runCli(['run', file, '--out', out, '--replicates', '1'], { timeoutMs: 580_000 });
      assert.equal(r1.code, 0, r1.stdout + r1.stderr);
      assert.match(r1.stdout, /done: 23 passed; 23 ran, 0 reused/);

      const s = runCli(['status', out, '--json']);
      assert.equal(s.code, 0, s.stderr);
      const status = JSON.parse(s.stdout);
      assert.deepEqual(Object.keys(status).sort(), ['experiments', 'pipeline', 'questions', 'run', 'runDir']);
      assert.deepEqual(
        status.experiments.map((e: { id: string }) => e.id),
        [
          'A-001',
          'A-002',
          'A-003',
          'B-001',
          'B-002',
          'B-003',
          'B-004',
          'B-005',
          'B-006',
          'B-007',
          'B-008',
          'B-009',
          'B-010',
          'B-011',
          'C-001',
          'C-002',
          'D-001',
          'D-002',
          'E-001',
          'E-002',
          'E-003',
          'E-004',
          'E-005',
        ],
      );
      for (const e of status.experiments) {
        assert.equal(e.status, 'passed', `${e.id}: ${e.reason}`);
        assert.equal(e.source, 'run');
      }
      assert.deepEqual(
        status.questions.map((q: { id: string }) => q.id),
        ['Q1', 'Q2', 'Q3', 'Q4', 'Q5'],
      );
      for (const q of status.questions) {
        assert.ok(['CONFIRMED', 'REFUTED', 'PARTIAL'].includes(q.status), `${q.id} ${q.status}: ${q.evidence}`);
        assert.match(q.evidence, /\d/, `${q.id} evidence has numbers: ${q.evidence}`);
        assert.ok(Array.isArray(q.experiments) && q.experiments.length >= 2);
      }

      // The human tables: questions with status and evidence, and the checklist with ticks and source.
      const t = runCli(['status', out]);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /Research questions\n {2}Q1 {3}Is disparity real\? +(CONFIRMED|REFUTED|PARTIAL) +\S/);
      assert.match(t.stdout, /✓ D-002 +validate +passed +run \d+/);

      const r2 = runCli(['run', file, '--out', out, '--replicates', '1']);
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assert.match(r2.stdout, /done: 23 passed; 0 ran, 23 reused/);
      const again = JSON.parse(runCli(['status', out, '--json']).stdout);
      assert.deepEqual(again.questions, status.questions);

      // Phase E: equal budgets (every arm the same calibration tokens, = the budget), one cached model per
      // calibration set (E-001…E-004 one each, E-005 one per language), and a forced E-005 calibrates nothing.
      const store = Store.openReadOnly(out)!;
      try {
        const one = (id: string, metric: string) => store.summarize(id).find((x) => x.metric === metric)!.mean;
        const budget = one('E-001', 'calibration_budget');
        assert.ok(budget > 0 && budget <= 512);
        for (const id of ['E-001', 'E-002', 'E-003', 'E-004', 'E-005']) {
          assert.equal(one(id, 'calibration_tokens'), budget, `${id} calibration tokens`);
          assert.equal(one(id, 'calibration_budget'), budget, `${id} budget`);
        }
      } finally {
        store.close();
      }
      assert.equal(readdirSync(join(out, 'cache', 'calibrated')).filter((f) => f.endsWith('.bin')).length, 4 + 4);
      const r3 = runCli(['run', file, '--out', out, '--replicates', '1', '--force', 'E-005']);
      assert.equal(r3.code, 0, r3.stdout + r3.stderr);
      const log = readFileSync(join(out, 'logs', 'E-005.r0.log'), 'utf8');
      assert.match(log, /base: 4 of 4 quantised model\(s\) reused from the run folder's cache/);
      const after = JSON.parse(runCli(['status', out, '--json']).stdout);
      assert.deepEqual(after.questions, status.questions, 'the reused models give the same results');

      // The report, from this run's store: every figure has its numbers (none "not available").
      const rep = runCli(['report', out]);
      assert.equal(rep.code, 0, rep.stdout + rep.stderr);
      assert.match(rep.stdout, /^wrote .*report\.md, .*report\.html\n$/);
      assert.ok(existsSync(join(out, 'report.html')));
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      assert.doesNotMatch(md, /Not available/);
      const { doc } = await buildReport(out, STUDY_REPORT);
      assert.equal(doc.sections.length, 8); // figures 1–7 and phase E's
      for (const { figure } of doc.sections) {
        assert.equal(figure.missing, null, `${figure.id}: ${figure.missing}`);
        const stored = figure.tables.flatMap((t) => t.rows.flat()).filter((c) => c.ref !== undefined);
        assert.ok(stored.length > 0, `${figure.id} shows stored metrics`);
        assert.ok(
          stored.some((c) => Number.isFinite(c.value)),
          `${figure.id} has finite numbers`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a missing checkpoint blocks the experiments of its alias and says how to supply it', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'langquant-study-'));
  try {
    const file = reducedPipeline(dir);
    const r = runCli(['plan', file, '--out', join(dir, 'run'), '--model', `pythia=${join(dir, 'nowhere')}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /D-002 .*model 'pythia' has no checkpoint at .*nowhere: put a Hugging Face checkpoint folder there or pass --model pythia=DIR/,
    );
    assert.doesNotMatch(r.stdout, /D-001 [^\n]*no checkpoint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
