// The research-question rules of pipelines/disparity.yaml, decided on constructed metric sets:
// each status of each question, unstable ratios, inconsistent replicates, missing experiments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { KindRegistry, type MetricRow } from '../../src/pipeline/kind.ts';
import { evaluateQuestion, type EvidenceSource, type QuestionSpec } from '../../src/pipeline/rules.ts';
import { loadPipeline } from '../../src/pipeline/spec.ts';

const PIPELINE = fileURLToPath(new URL('../../pipelines/disparity.yaml', import.meta.url));
const KINDS = fileURLToPath(new URL('../../src/study/kinds.ts', import.meta.url));
const { spec } = await loadPipeline(PIPELINE, await KindRegistry.load([KINDS]));
const Q = (id: string): QuestionSpec => spec.questions.find((q) => q.id === id)!;
const groups = spec.corpus.groups;

type Row = [experiment: string, metric: string, value: number, opts?: { model?: string; language?: string | null; replicate?: number }];

function source(rows: Row[], o: { incomplete?: string[]; consistency?: Record<string, { agreeing: number; total: number }> } = {}): EvidenceSource {
  const metrics: MetricRow[] = rows.map(([experiment, metric, value, w]) => ({ experiment, metric, value, model: w?.model ?? 'base', language: w?.language ?? null, replicate: w?.replicate ?? 0, source: 'run' }));
  return {
    groups,
    state: (id) => (o.incomplete?.includes(id) ? { status: 'failed', reason: 'crashed', complete: false } : { status: 'passed', reason: null, complete: true }),
    metrics: (id) => metrics.filter((m) => m.experiment === id),
    consistency: (id) => {
      const c = o.consistency?.[id] ?? { agreeing: 3, total: 3 };
      return { ...c, ok: c.agreeing === c.total, detail: '' };
    },
  };
}

/** A-003 rows for 3 replicates: per-language ΔBPB (low languages `low`, high `high`) and the ratio. */
function a003(r: { ratio: number; lo: number; hi: number; unstable?: number; low?: number; high?: number }): Row[] {
  const rows: Row[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const w = { replicate: rep };
    rows.push(['A-003', 'ratio_dbpb', r.ratio, w], ['A-003', 'ratio_dbpb_lo', r.lo, w], ['A-003', 'ratio_dbpb_hi', r.hi, w]);
    rows.push(['A-003', 'ratio_dbpb_unstable', r.unstable ?? 0, w], ['A-003', 'ratio_ppl', r.ratio * 0.8, w]);
    for (const l of groups.low) rows.push(['A-003', 'delta_bpb', r.low ?? 0.3, { ...w, language: l }]);
    for (const l of groups.high) rows.push(['A-003', 'delta_bpb', r.high ?? 0.1, { ...w, language: l }]);
  }
  return rows;
}

test('Q1 confirmed: the interval lies above 1 and the replicates agree; evidence carries the numbers', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0 })));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(v.evidence, /^disparity 3\.40× \[2\.10, 5\.00\] ΔBPB \(0\.3000 vs 0\.1000 bits\/byte\), 2\.72× PPL increase; consistent in 3\/3 replicates$/);
});

test('Q1 refuted when the interval lies below 1; partial when it contains 1', () => {
  assert.equal(evaluateQuestion(Q('Q1'), source(a003({ ratio: 0.5, lo: 0.3, hi: 0.8 }))).status, 'REFUTED');
  assert.equal(evaluateQuestion(Q('Q1'), source(a003({ ratio: 1.2, lo: 0.7, hi: 1.9 }))).status, 'PARTIAL');
});

test('Q1 with inconsistent replicates is only partial, and says so', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0 }), { consistency: { 'A-003': { agreeing: 2, total: 3 } } }));
  assert.equal(v.status, 'PARTIAL');
  assert.match(v.evidence, /consistent in 2\/3 replicates/);
});

test('Q1 with an unstable ratio reports the group means instead of a ratio', () => {
  const rows = a003({ ratio: 40, lo: NaN, hi: NaN, low: 0.2, high: 0.005 });
  rows.push(['A-003', 'ratio_dbpb_unstable', 1, { replicate: 1 }]); // one replicate unstable is enough
  const v = evaluateQuestion(Q('Q1'), source(rows));
  assert.equal(v.status, 'PARTIAL');
  assert.match(v.evidence, /^ΔBPB ratio unstable: high-resource mean ΔBPB 0\.0050 .*low-resource 0\.2000/);
});

test('a question is PENDING while one of its experiments has no complete result', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3, lo: 2, hi: 4 }), { incomplete: ['A-002'] }));
  assert.equal(v.status, 'PENDING');
  assert.match(v.evidence, /waiting for A-002 \(failed: crashed\)/);
});

function b004(rel: number, extra: Partial<Record<string, number>> = {}): Row[] {
  const m: Record<string, number> = { optimal_share: 0.1, optimal_bits_per_weight: 7.4, p0_bits_per_weight: 4.25, max_reduction_low_rel: rel, p0_low_delta_bpb: 0.2, optimal_low_delta_bpb: 0.2 * (1 - rel), p0_ratio_dbpb: 3, optimal_ratio_dbpb: 2, reduction_significant: 1, ...extra };
  return Object.entries(m).map(([k, v]) => ['B-004', k, v] as Row);
}

test('Q2: confirmed, partial and refuted by the share of low-resource degradation removed', () => {
  const v = evaluateQuestion(Q('Q2'), source(b004(0.6)));
  assert.equal(v.status, 'CONFIRMED');
  assert.equal(v.evidence, 'best share removes 60 % of low-resource ΔBPB; optimal 10 % kept: low ΔBPB 0.2000 → 0.0800, disparity 3.00× → 2.00×, at 7.40 vs 4.25 bits/weight; significant: 1');
  // A large reduction within the noise is only partial.
  assert.equal(evaluateQuestion(Q('Q2'), source(b004(0.6, { reduction_significant: 0 }))).status, 'PARTIAL');
  assert.equal(evaluateQuestion(Q('Q2'), source(b004(0.1))).status, 'PARTIAL');
  assert.equal(evaluateQuestion(Q('Q2'), source(b004(-0.05))).status, 'REFUTED');
  // A missing value (e.g. B-004 recorded nothing) keeps the question open, naming what is missing.
  const p = evaluateQuestion(Q('Q2'), source(b004(0.6).filter((r) => r[1] !== 'max_reduction_low_rel')));
  assert.equal(p.status, 'PENDING');
  assert.match(p.evidence, /rel \(B-004 max_reduction_low_rel/);
});

function c(diff: number, lo: number, hi: number, sig: number): Row[] {
  return [
    ['C-001', 'low_critical_layer', 3],
    ['C-001', 'high_critical_layer', 0],
    ['C-001', 'profile_rank_corr', 0.4],
    ['C-002', 'diff_low_delta_bpb', diff],
    ['C-002', 'diff_low_delta_bpb_lo', lo],
    ['C-002', 'diff_low_delta_bpb_hi', hi],
    ['C-002', 'diff_significant', sig],
    ['C-002', 'layer_bits_per_weight', 5.05],
    ['C-002', 'uniform_bits_per_weight', 5.05],
  ];
}

test('Q3: significant gain of layer-specific preservation confirms, a significant loss refutes, else partial', () => {
  const v = evaluateQuestion(Q('Q3'), source(c(-0.02, -0.03, -0.01, 1)));
  assert.equal(v.status, 'CONFIRMED');
  assert.equal(v.evidence, 'most sensitive block 3 (low-resource), 0 (high-resource), profiles ρ=0.40; layer-specific − uniform low ΔBPB -0.0200 [-0.0300, -0.0100] at 5.05/5.05 bits/weight');
  assert.equal(evaluateQuestion(Q('Q3'), source(c(0.02, 0.01, 0.03, 1))).status, 'REFUTED');
  assert.equal(evaluateQuestion(Q('Q3'), source(c(-0.01, -0.03, 0.01, 0))).status, 'PARTIAL');
});

function d(x1: number, rho1: number, x2: number, rho2: number): Row[] {
  const rows: Row[] = [];
  for (const [id, model, x, rho] of [['D-001', 'opt', x1, rho1], ['D-002', 'pythia', x2, rho2]] as const) {
    rows.push([id, 'ratio_dbpb', x ? 2.5 : 1.1, { model }], [id, 'ratio_dbpb_lo', x ? 1.6 : 0.8, { model }], [id, 'ratio_dbpb_hi', x ? 3.9 : 1.5, { model }]);
    rows.push([id, 'ratio_excludes_1', x, { model }], [id, 'rank_corr_delta_bpb', rho, { model }], [id, 'ratio_dbpb_unstable', 0, { model }]);
    for (const l of groups.low) rows.push([id, 'delta_bpb', 0.05, { model, language: l }]);
    for (const l of groups.high) rows.push([id, 'delta_bpb', x ? 0.02 : 0.045, { model, language: l }]);
  }
  return rows;
}

test('Q4: both models show disparity with the same pattern → confirmed; neither → refuted; mixed → partial', () => {
  const v = evaluateQuestion(Q('Q4'), source(d(1, 0.8, 1, 0.7)));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(v.evidence, /^opt 2\.50× \[1\.60, 3\.90\] \(ΔBPB low 0\.0500 \/ high 0\.0200\) ρ=0\.80; pythia 2\.50× .* ρ=0\.70; /);
  assert.equal(evaluateQuestion(Q('Q4'), source(d(0, 0.8, 0, 0.1))).status, 'REFUTED');
  // An unstable ratio on one model cannot refute: partial.
  const unstable = d(0, 0.8, 0, 0.1).map((r): Row => (r[0] === 'D-002' && r[1] === 'ratio_dbpb_unstable' ? [r[0], r[1], 1, r[3]] : r));
  assert.equal(evaluateQuestion(Q('Q4'), source(unstable)).status, 'PARTIAL');
  assert.equal(evaluateQuestion(Q('Q4'), source(d(1, 0.8, 0, 0.2))).status, 'PARTIAL');
  assert.equal(evaluateQuestion(Q('Q4'), source(d(1, 0.8, 1, 0.2))).status, 'PARTIAL'); // disparity, different pattern
});
