// The study's verdicts through the public CLI: `langquant run --only A-001` once on the built-in
// pipeline (one replicate), then per scenario a copy of that run folder, crafted results brought in
// with `langquant import`, and the questions read back with `langquant status --json`.
//  (a) imported replicates are scored like run ones, so Q1 is decided (CONFIRMED);
//  (b) one replicate whose ratio interval reaches below 1 keeps Q1 from being confirmed;
//  (c) a stable ratio 1.1 [0.8, 1.5] on both other models does not refute Q4 (inconclusive), a ratio
//      within the equivalence margin, 1.0 [0.85, 1.2], on both does.
// The rows of each scenario come from one builder below; add metrics there when Q1/Q4 read more.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runCli } from '../helpers/cli.ts';

const BUILTIN = fileURLToPath(new URL('../../pipelines/disparity.yaml', import.meta.url));
const GROUPS = (parse(readFileSync(BUILTIN, 'utf8')) as { corpus: { groups: { high: string[]; low: string[] } } })
  .corpus.groups;

interface Row {
  experiment: string;
  metric: string;
  value: number;
  model?: string;
  language?: string;
  replicate?: number;
}

// ---------------------------------------------------------------- crafted results

/**
 * A-002 (quantize) and A-003 (disparity) results of three replicates on model base, with everything
 * Q1 reads and the kinds' key metrics: ΔBPB 0.004 on low-resource languages, 0.002 on high-resource
 * ones (the same ranking in every replicate), a stable ΔBPB ratio `ratio` with per-replicate lower
 * bounds `ratioLo[k]` and upper bound `ratioHi`, and low-resource ΔBPB intervals above 0.
 */
function phaseARows(o: { ratio: number; ratioLo: [number, number, number]; ratioHi: number }): Row[] {
  const model = 'base';
  const rows: Row[] = [];
  const langs = [
    ...GROUPS.low.map((l, i) => ({ l, d: 0.004 + 0.0001 * i })),
    ...GROUPS.high.map((l, i) => ({ l, d: 0.002 + 0.0001 * i })),
  ];
  for (let k = 0; k < 3; k++) {
    const r = (experiment: string, metric: string, value: number, language?: string) =>
      rows.push({ experiment, metric, value, model, replicate: k, ...(language ? { language } : {}) });
    const jitter = 1 + 0.01 * k;
    for (const { l, d } of langs) {
      const dbpb = d * jitter;
      r('A-002', 'delta_bpb', dbpb, l);
      r('A-002', 'delta_bpb_lo', dbpb * 0.5, l);
      r('A-002', 'delta_bpb_hi', dbpb * 1.5, l);
      r('A-002', 'ppl_rel_increase', dbpb * 2, l);
      r('A-002', 'kl_mean', dbpb / 10, l);
      r('A-002', 'top1_agree', 0.99, l);
      r('A-003', 'delta_bpb', dbpb, l);
    }
    r('A-002', 'bits_per_weight', 4.25);
    const low = 0.0045 * jitter;
    const high = 0.00245 * jitter;
    r('A-003', 'ratio_dbpb', o.ratio);
    r('A-003', 'ratio_dbpb_lo', o.ratioLo[k]);
    r('A-003', 'ratio_dbpb_hi', o.ratioHi);
    r('A-003', 'ratio_dbpb_unstable', 0);
    r('A-003', 'ratio_ppl', o.ratio);
    r('A-003', 'ratio_ppl_lo', o.ratioLo[k]);
    r('A-003', 'ratio_ppl_hi', o.ratioHi);
    r('A-003', 'ratio_ppl_unstable', 0);
    r('A-003', 'gap_dbpb', low - high);
    r('A-003', 'low_delta_bpb_lo', low * 0.6);
    r('A-003', 'low_delta_bpb_hi', low * 1.4);
    r('A-003', 'high_delta_bpb_lo', high * 0.6);
    r('A-003', 'high_delta_bpb_hi', high * 1.4);
    r('A-003', 'low_delta_bpb', low);
    r('A-003', 'high_delta_bpb', high);
    // The language level (two-stage bootstrap, permutation test) and the second measure, KL per byte.
    r('A-003', 'ratio_dbpb_lang_lo', Math.min(...o.ratioLo) * 0.95);
    r('A-003', 'ratio_dbpb_lang_hi', o.ratioHi * 1.1);
    r('A-003', 'perm_p_dbpb', 0.001);
    r('A-003', 'ratio_klpb', o.ratio);
    r('A-003', 'ratio_klpb_lo', o.ratioLo[k]);
    r('A-003', 'ratio_klpb_hi', o.ratioHi);
    r('A-003', 'ratio_klpb_unstable', 0);
    r('A-003', 'unseen_languages', 0);
    r('A-003', 'unseen_delta_bpb', NaN);
  }
  return rows;
}

/** (a) Q1 should be confirmed: every replicate's ratio interval lies above 1. */
function confirmingQ1Rows(): Row[] {
  return phaseARows({ ratio: 2, ratioLo: [1.3, 1.25, 1.35], ratioHi: 3 });
}

/** (b) The same, but one replicate's ratio interval reaches below 1 (lower bounds 1.2, 0.9, 1.3; mean 1.13). */
function weakReplicateQ1Rows(): Row[] {
  return phaseARows({ ratio: 2, ratioLo: [1.2, 0.9, 1.3], ratioHi: 3 });
}

/**
 * D-001 (opt) and D-002 (pythia) results, one replicate each, with everything Q4 reads and the
 * validate kind's key metrics: a stable ΔBPB ratio `ratio` [lo, hi] that does not exclude 1, and the
 * rank correlation ρ of per-language ΔBPB with the base model.
 */
function phaseDRows(o: { ratio: number; lo: number; hi: number; rho: number }): Row[] {
  const rows: Row[] = [];
  for (const [experiment, model] of [
    ['D-001', 'opt'],
    ['D-002', 'pythia'],
  ]) {
    const r = (metric: string, value: number, language?: string) =>
      rows.push({ experiment, metric, value, model, replicate: 0, ...(language ? { language } : {}) });
    for (const [i, l] of GROUPS.low.entries()) {
      r('delta_bpb', 0.003 + 0.0001 * i, l);
      r('bpb', 2.5, l);
    }
    for (const [i, l] of GROUPS.high.entries()) {
      r('delta_bpb', 0.003 + 0.0001 * i, l);
      r('bpb', 1.5, l);
    }
    r('ratio_dbpb', o.ratio);
    r('ratio_dbpb_lo', o.lo);
    r('ratio_dbpb_hi', o.hi);
    r('ratio_dbpb_unstable', 0);
    r('ratio_excludes_1', o.lo > 1 ? 1 : 0);
    r('rank_corr_delta_bpb', o.rho);
    r('rank_corr_delta_bpb_lo', o.rho - 0.2);
    r('rank_corr_delta_bpb_hi', Math.min(1, o.rho + 0.2));
  }
  return rows;
}

/** (c) Not significant: a stable 1.1 [0.8, 1.5] on both models — neither a disparity nor its absence. */
function inconclusiveQ4Rows(): Row[] {
  return phaseDRows({ ratio: 1.1, lo: 0.8, hi: 1.5, rho: 0.7 });
}

/** (c) Evidence of absence: 1.0 [0.85, 1.2] on both models, within the equivalence margin [0.8, 1.25]. */
function equivalentQ4Rows(): Row[] {
  return phaseDRows({ ratio: 1.0, lo: 0.85, hi: 1.2, rho: 0.6 });
}

// ---------------------------------------------------------------- the run folder and the CLI

let root = '';
let base = '';

before(() => {
  root = mkdtempSync(join(tmpdir(), 'langquant-verdicts-'));
  base = join(root, 'base');
  // A-001 only, one replicate: the store then holds the built-in pipeline, its questions and a
  // complete baseline, which is all the imports below need.
  const r = runCli(['run', '--only', 'A-001', '--replicates', '1', '--out', base], { timeoutMs: 110_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Status {
  experiments: {
    id: string;
    status: string;
    reason: string | null;
    source: string | null;
    consistency: { ok: boolean; agreeing: number; total: number } | null;
  }[];
  questions: { id: string; status: string; evidence: string }[];
}

/** A copy of the A-001 run folder with `rows` imported into it; its `status --json`. */
function importInto(name: string, rows: Row[]): { dir: string; status: Status } {
  const dir = join(root, name);
  cpSync(base, dir, { recursive: true });
  const file = join(root, `${name}.json`);
  // JSON has no NaN: a non-finite value is written as the import format's "NaN" / "Infinity" strings.
  writeFileSync(
    file,
    JSON.stringify({ note: 'from EXP-039 v3', rows }, (_k, v) =>
      typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    ),
  );
  const imp = runCli(['import', file, '--into', dir]);
  assert.equal(imp.code, 0, imp.stdout + imp.stderr);
  return { dir, status: readStatus(dir) };
}

function readStatus(dir: string): Status {
  const s = runCli(['status', dir, '--json']);
  assert.equal(s.code, 0, s.stderr);
  return JSON.parse(s.stdout) as Status;
}

const question = (s: Status, id: string) => s.questions.find((q) => q.id === id)!;
const experiment = (s: Status, id: string) => s.experiments.find((e) => e.id === id)!;

test(
  '(a) imported A-002/A-003 replicates are scored like run ones, so Q1 is decided: CONFIRMED',
  { timeout: 120_000 },
  () => {
    const { dir, status } = importInto('a', confirmingQ1Rows());
    for (const id of ['A-002', 'A-003']) {
      const e = experiment(status, id);
      assert.equal(e.status, 'passed', `${id}: ${e.reason}`);
      assert.equal(e.source, 'import');
      assert.deepEqual([e.consistency?.ok, e.consistency?.agreeing, e.consistency?.total], [true, 3, 3], id);
    }
    const q1 = question(status, 'Q1');
    assert.notEqual(q1.status, 'PENDING', q1.evidence);
    assert.equal(q1.status, 'CONFIRMED', q1.evidence);
    assert.match(
      q1.evidence,
      /^disparity 2\.00× \[1\.25, 3\.00\] over units, \[1\.19, 3\.30\] over languages \(permutation p=0\.001\) in ΔBPB .*consistent in 3\/3 replicates$/,
    );

    // A later `langquant run` (here --only A-001 again, reusing it) scores the imports the same way.
    const again = runCli(['run', '--only', 'A-001', '--replicates', '1', '--out', dir], { timeoutMs: 110_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const later = readStatus(dir);
    assert.deepEqual(question(later, 'Q1'), q1);
    assert.deepEqual(experiment(later, 'A-003').consistency, experiment(status, 'A-003').consistency);
  },
);

test(
  '(b) one replicate whose ratio interval reaches below 1 (lower bounds 1.2, 0.9, 1.3): Q1 is not CONFIRMED',
  { timeout: 120_000 },
  () => {
    const { status } = importInto('b', weakReplicateQ1Rows());
    assert.equal(experiment(status, 'A-003').status, 'passed');
    const q1 = question(status, 'Q1');
    assert.notEqual(q1.status, 'CONFIRMED', q1.evidence);
    assert.equal(q1.status, 'PARTIAL', q1.evidence); // decided, on the worst replicate's interval
    assert.match(q1.evidence, /^disparity 2\.00× \[0\.90, 3\.00\] over units/);
  },
);

test(
  '(c) Q4: a stable 1.1 [0.8, 1.5] on both models is inconclusive (PARTIAL); 1.0 [0.85, 1.2] on both is REFUTED',
  { timeout: 120_000 },
  () => {
    const ns = importInto('c-inconclusive', inconclusiveQ4Rows()).status;
    for (const id of ['D-001', 'D-002'])
      assert.equal(experiment(ns, id).status, 'passed', `${id}: ${experiment(ns, id).reason}`);
    const q4 = question(ns, 'Q4');
    assert.notEqual(q4.status, 'REFUTED', q4.evidence);
    assert.equal(q4.status, 'PARTIAL', q4.evidence);
    assert.match(
      q4.evidence,
      /^inconclusive, neither a disparity nor its absence shown: opt 1\.10× \[0\.80, 1\.50\].* ρ=0\.70 \[0\.50, 0\.90\]; pythia 1\.10× \[0\.80, 1\.50\].*equivalence margin \[0\.80, 1\.25\]$/,
    );

    const eq = question(importInto('c-equivalent', equivalentQ4Rows()).status, 'Q4');
    assert.equal(eq.status, 'REFUTED', eq.evidence);
    assert.match(
      eq.evidence,
      /^no disparity on either model: opt 1\.00× \[0\.85, 1\.20\].* ρ=0\.60 \[0\.40, 0\.80\]; pythia 1\.00× \[0\.85, 1\.20\].*within the equivalence margin \[0\.80, 1\.25\]$/,
    );
  },
);
