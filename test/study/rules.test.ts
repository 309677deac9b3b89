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
const registry = await KindRegistry.load([KINDS]);
const { spec } = await loadPipeline(PIPELINE, registry);
/** Decides a question with the study's code rules available (Q2 is one). */
const decide = (q: QuestionSpec, src: EvidenceSource) => evaluateQuestion(q, src, (n) => registry.rule(n));
const Q = (id: string): QuestionSpec => spec.questions.find((q) => q.id === id)!;
const groups = spec.corpus.groups;

type Row = [
  experiment: string,
  metric: string,
  value: number,
  opts?: { model?: string; language?: string | null; replicate?: number },
];

function source(
  rows: Row[],
  o: { incomplete?: string[]; consistency?: Record<string, { agreeing: number; total: number }> } = {},
): EvidenceSource {
  const metrics: MetricRow[] = rows.map(([experiment, metric, value, w]) => ({
    experiment,
    metric,
    value,
    model: w?.model ?? 'base',
    language: w?.language ?? null,
    replicate: w?.replicate ?? 0,
    source: 'run',
  }));
  return {
    groups,
    state: (id) =>
      o.incomplete?.includes(id)
        ? { status: 'failed', reason: 'crashed', complete: false }
        : { status: 'passed', reason: null, complete: true },
    metrics: (id) => metrics.filter((m) => m.experiment === id),
    consistency: (id) => {
      const c = o.consistency?.[id] ?? { agreeing: 3, total: 3 };
      return { ...c, ok: c.agreeing === c.total, detail: '' };
    },
  };
}

/** A-003 rows for 3 replicates: per-language ΔBPB (low languages `low`, high `high`) and the ratio. */
function a003(r: {
  ratio: number;
  lo: number;
  hi: number;
  unstable?: number;
  low?: number;
  high?: number;
  lowLo?: number;
  langLo?: number;
  langHi?: number;
  permP?: number;
  kLo?: number;
  kHi?: number;
}): Row[] {
  const rows: Row[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const w = { replicate: rep };
    rows.push(
      ['A-003', 'ratio_dbpb_lang_lo', r.langLo ?? r.lo, w],
      ['A-003', 'ratio_dbpb_lang_hi', r.langHi ?? r.hi, w],
      ['A-003', 'perm_p_dbpb', r.permP ?? 0.001, w],
    );
    rows.push(
      ['A-003', 'ratio_klpb', r.ratio, w],
      ['A-003', 'ratio_klpb_lo', r.kLo ?? r.lo, w],
      ['A-003', 'ratio_klpb_hi', r.kHi ?? r.hi, w],
    );
    rows.push(
      ['A-003', 'low_delta_bpb', r.low ?? 0.3, w],
      ['A-003', 'high_delta_bpb', r.high ?? 0.1, w],
      ['A-003', 'unseen_languages', 2, w],
      ['A-003', 'unseen_delta_bpb', 0.9, w],
    );
    rows.push(
      ['A-003', 'ratio_dbpb', r.ratio, w],
      ['A-003', 'ratio_dbpb_lo', r.lo, w],
      ['A-003', 'ratio_dbpb_hi', r.hi, w],
    );
    rows.push(
      ['A-003', 'ratio_dbpb_unstable', r.unstable ?? 0, w],
      ['A-003', 'ratio_ppl', r.ratio * 0.8, w],
      ['A-003', 'ratio_ppl_lo', r.lo * 0.8, w],
      ['A-003', 'ratio_ppl_hi', r.hi * 0.8, w],
    );
    const low = r.low ?? 0.3;
    const high = r.high ?? 0.1;
    rows.push(
      ['A-003', 'low_delta_bpb_lo', r.lowLo ?? low / 2, w],
      ['A-003', 'high_delta_bpb_lo', high / 2, w],
      ['A-003', 'high_delta_bpb_hi', high * 1.5, w],
    );
    for (const l of groups.low) rows.push(['A-003', 'delta_bpb', r.low ?? 0.3, { ...w, language: l }]);
    for (const l of groups.high) rows.push(['A-003', 'delta_bpb', r.high ?? 0.1, { ...w, language: l }]);
  }
  return rows;
}

test('Q1 confirmed: the interval lies above 1 and the replicates agree; evidence carries the numbers', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0 })));
  assert.equal(v.status, 'CONFIRMED');
  assert.equal(
    v.evidence,
    'disparity 3.40× [2.10, 5.00] over units, [2.10, 5.00] over languages (permutation p=0.001) in ΔBPB (0.3000 vs 0.1000 bits/byte); KL per byte 3.40× [2.10, 5.00]; 2.72× [1.68, 4.00] PPL increase; unseen languages: 2 (ΔBPB 0.9000), not pooled; consistent in 3/3 replicates',
  );
});

test('Q1 is asked of languages: significant over units only, or a permutation test above alpha, is PARTIAL', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0, langLo: 0.8, langHi: 9 })));
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /^holds over these languages' units but not at the language level: ΔBPB 3\.40× \[2\.10, 5\.00\] over units, \[0\.80, 9\.00\] over languages/,
  );
  assert.equal(evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0, permP: 0.2 }))).status, 'PARTIAL');
});

test('Q1: when ΔBPB and KL per byte disagree the status is PARTIAL and the evidence shows both', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0, kLo: 0.9, kHi: 2 })));
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /^ΔBPB and KL per byte disagree: ΔBPB 3\.40× \[2\.10, 5\.00\], KL per byte 3\.40× \[0\.90, 2\.00\]/,
  );
});

test('Q1 is not confirmed when the low-resource degradation is within noise of 0 in some replicate', () => {
  const rows = a003({ ratio: 3.4, lo: 2.1, hi: 5.0 }).map((r): Row =>
    r[1] === 'low_delta_bpb_lo' && r[3]?.replicate === 2 ? [r[0], r[1], -0.0001, r[3]] : r,
  );
  assert.equal(evaluateQuestion(Q('Q1'), source(rows)).status, 'PARTIAL');
});

test('Q1: the weakest replicate decides; one replicate whose ratio interval reaches below 1 keeps it from being confirmed', () => {
  const los = [1.2, 0.9, 1.3];
  const rows = a003({ ratio: 2, lo: 1.2, hi: 3 }).map((r): Row =>
    r[1] === 'ratio_dbpb_lo' ? [r[0], r[1], los[r[3]!.replicate!], r[3]] : r,
  );
  const v = evaluateQuestion(Q('Q1'), source(rows));
  assert.equal(v.status, 'PARTIAL');
  assert.match(v.evidence, /ΔBPB 2\.00× \[0\.90, 3\.00\]/);
});

test('Q1 refuted when the interval lies below 1; partial when it contains 1', () => {
  assert.equal(evaluateQuestion(Q('Q1'), source(a003({ ratio: 0.5, lo: 0.3, hi: 0.8 }))).status, 'REFUTED');
  assert.equal(evaluateQuestion(Q('Q1'), source(a003({ ratio: 1.2, lo: 0.7, hi: 1.9 }))).status, 'PARTIAL');
});

test('Q1 with inconsistent replicates is only partial, and says so', () => {
  const v = evaluateQuestion(
    Q('Q1'),
    source(a003({ ratio: 3.4, lo: 2.1, hi: 5.0 }), { consistency: { 'A-003': { agreeing: 2, total: 3 } } }),
  );
  assert.equal(v.status, 'PARTIAL');
  assert.match(v.evidence, /consistent in 2\/3 replicates/);
});

test('Q1 with an unstable ratio reports the group means instead of a ratio', () => {
  const rows = a003({ ratio: 40, lo: NaN, hi: NaN, low: 0.2, high: 0.005 });
  rows.push(['A-003', 'ratio_dbpb_unstable', 1, { replicate: 1 }]); // one replicate unstable is enough
  const v = evaluateQuestion(Q('Q1'), source(rows));
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /^ΔBPB ratio unstable: high-resource mean ΔBPB 0\.0050 \[0\.0025, 0\.0075\] .*low-resource 0\.2000/,
  );
});

test('a question is PENDING while one of its experiments has no complete result', () => {
  const v = evaluateQuestion(Q('Q1'), source(a003({ ratio: 3, lo: 2, hi: 4 }), { incomplete: ['A-002'] }));
  assert.equal(v.status, 'PENDING');
  assert.match(v.evidence, /waiting for A-002 \(failed: crashed\)/);
});

/**
 * B-011 rows for shares 5/10/20 %: every share beats both controls ('helps'), none does by 5 % of ΔBPB₀ ('no'), or
 * unclear.
 */
function b011(kind: 'helps' | 'no' | 'unclear'): Row[] {
  const rows: Row[] = [];
  for (const [share, pct] of [
    [0.05, 5],
    [0.1, 10],
    [0.2, 20],
  ] as const) {
    const d = kind === 'helps' ? [-0.05, -0.08, -0.02] : kind === 'no' ? [0.01, -0.005, 0.03] : [-0.02, -0.06, 0.02];
    const m: Record<string, number> = {
      share,
      bits_per_weight: 4.25 + share * 48,
      rtn_bits_per_weight: 6.25,
      vs_rtn: d[0],
      vs_rtn_lo: d[1],
      vs_rtn_hi: d[2],
      vs_random: d[0],
      vs_random_lo: d[1],
      vs_random_hi: d[2],
      gap_narrowing: 0.02,
      gap_narrowing_lo: 0.01,
      gap_narrowing_hi: 0.03,
      helps: kind === 'helps' ? 1 : 0,
    };
    for (const [k, v] of Object.entries(m)) rows.push(['B-011', `ctrl_p${pct}_${k}`, v]);
  }
  return rows;
}

function b004(
  rel: number,
  extra: Partial<Record<string, number>> = {},
  controls: 'helps' | 'no' | 'unclear' = rel >= 0.25 ? 'helps' : rel <= 0.05 ? 'no' : 'unclear',
): Row[] {
  const m: Record<string, number> = {
    optimal_share: 0.1,
    optimal_bits_per_weight: 7.4,
    p0_bits_per_weight: 4.25,
    max_reduction_low_rel: rel,
    p0_low_delta_bpb: 0.2,
    p0_low_delta_bpb_lo: 0.15,
    p0_low_delta_bpb_hi: 0.25,
    optimal_low_delta_bpb: 0.2 * (1 - rel),
    optimal_low_delta_bpb_lo: 0.2 * (1 - rel) - 0.01,
    optimal_low_delta_bpb_hi: 0.2 * (1 - rel) + 0.01,
    p0_ratio_dbpb: 3,
    optimal_ratio_dbpb: 2,
    p0_ratio_dbpb_unstable: 0,
    optimal_ratio_dbpb_unstable: 0,
    reduction_significant: 1,
    ...extra,
  };
  return [...Object.entries(m).map(([k, v]) => ['B-004', k, v] as Row), ...b011(controls)];
}

test('Q2: confirmed, partial and refuted by the share of low-resource degradation removed', () => {
  const v = decide(Q('Q2'), source(b004(0.6)));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(
    v.evidence,
    /^5 % beats both controls; best share removes 60 % of the low-resource ΔBPB; optimal 10 % kept \(chosen on the selection units\): low ΔBPB 0\.2000 \[0\.1500, 0\.2500\] → 0\.0800, disparity 3\.00× → 2\.00×, at 7\.40 vs 4\.25 bits\/weight; reduction significant \(intervals apart\); /,
  );
  assert.match(
    v.evidence,
    /10 %: − RTN@6\.25 b\/w -0\.0500 \[-0\.0800, -0\.0200\], − random -0\.0500 \[-0\.0800, -0\.0200\], gap narrowing 0\.0200 \[0\.0100, 0\.0300\]/,
  );
  // Not significant is not refuted: a large reduction that does not beat the controls is PARTIAL, and
  // REFUTED needs every share shown no better than a control (evidence of absence).
  assert.equal(decide(Q('Q2'), source(b004(0.6, {}, 'unclear'))).status, 'PARTIAL');
  assert.equal(decide(Q('Q2'), source(b004(0.6, {}, 'no'))).status, 'REFUTED');
  // Without the controls experiment's rows the question waits for them.
  assert.equal(decide(Q('Q2'), source(b004(0.6).filter((r) => r[0] !== 'B-011'))).status, 'PENDING');
  // A large reduction within the noise is only partial.
  const ns = decide(Q('Q2'), source(b004(0.6, { reduction_significant: 0 })));
  assert.equal(ns.status, 'PARTIAL');
  assert.match(ns.evidence, /reduction within noise \(intervals overlap\)/);
  assert.equal(decide(Q('Q2'), source(b004(0.1))).status, 'PARTIAL');
  assert.equal(decide(Q('Q2'), source(b004(-0.05))).status, 'REFUTED');
  // A missing value (e.g. B-004 recorded nothing) keeps the question open, naming what is missing.
  const p = decide(Q('Q2'), source(b004(0.6).filter((r) => r[1] !== 'max_reduction_low_rel')));
  assert.equal(p.status, 'PENDING');
  assert.match(p.evidence, /B-004 max_reduction_low_rel/);
});

test('Q2 on noise (the mini-model case): no degradation distinguishable from 0 at p = 0 is PARTIAL, never CONFIRMED', () => {
  // ΔBPB 0.0004 bits/byte whose interval reaches 0; preservation "removes 353 %" and the ratio jumps to 68.87×.
  const rows = b004(3.53, {
    p0_low_delta_bpb: 0.0004,
    p0_low_delta_bpb_lo: -0.0001,
    p0_low_delta_bpb_hi: 0.0009,
    optimal_low_delta_bpb: -0.001,
    p0_ratio_dbpb: 2.05,
    optimal_ratio_dbpb: 68.87,
    optimal_ratio_dbpb_unstable: 1,
  });
  const v = decide(Q('Q2'), source(rows));
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /^nothing measurable to remove: low-resource ΔBPB without preservation 0\.0004 \[-0\.0001, 0\.0009\] bits\/byte is within noise/,
  );
  assert.doesNotMatch(v.evidence, /353|68\.87/);
});

test('Q2 caps the reduction at "all of it" and names an unstable ratio instead of quoting it', () => {
  // The optimum ends just below full precision, within noise of 0: all of the degradation removed.
  const rows = b004(1.2, {
    p0_low_delta_bpb: 0.0004,
    p0_low_delta_bpb_lo: 0.0002,
    p0_low_delta_bpb_hi: 0.0006,
    optimal_low_delta_bpb: -0.00008,
    optimal_low_delta_bpb_lo: -0.0002,
    optimal_low_delta_bpb_hi: 0.0001,
    p0_ratio_dbpb: 2.05,
    optimal_ratio_dbpb: 68.87,
    optimal_ratio_dbpb_unstable: 1,
  });
  const v = decide(Q('Q2'), source(rows));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(
    v.evidence,
    /^5 % beats both controls; best share removes all of the low-resource ΔBPB \(and more: it ends at or below full precision\); optimal 10 % kept \(chosen on the selection units\): low ΔBPB 0\.0004 \[0\.0002, 0\.0006\] → -0\.0001, disparity 2\.05× → unstable, /,
  );
  assert.match(v.evidence, /; unstable: high-resource ΔBPB within noise of 0; /);
  assert.doesNotMatch(v.evidence, /120|68\.87/);
});

test('Q2: an optimum beating full precision by more than quantisation cost (the mini-model run) is an overshoot, PARTIAL', () => {
  // Measured: 0.0004 [0.0002, 0.0006] → -0.0009 [-0.0010, -0.0008] at 5 %, "353 %", ratio 2.05× → 68.87× (unstable).
  const rows = b004(3.53, {
    optimal_share: 0.05,
    p0_low_delta_bpb: 0.0004,
    p0_low_delta_bpb_lo: 0.0002,
    p0_low_delta_bpb_hi: 0.0006,
    optimal_low_delta_bpb: -0.0009,
    optimal_low_delta_bpb_lo: -0.001,
    optimal_low_delta_bpb_hi: -0.0008,
    p0_ratio_dbpb: 2.05,
    optimal_ratio_dbpb: 68.87,
    optimal_ratio_dbpb_unstable: 1,
  });
  const v = decide(Q('Q2'), source(rows));
  assert.equal(v.status, 'PARTIAL');
  assert.equal(
    v.evidence,
    'overshoot, not a repair: optimal 5 % kept takes low-resource ΔBPB 0.0004 [0.0002, 0.0006] → -0.0009 [-0.0010, -0.0008] bits/byte, beating full precision by more than quantisation cost; disparity 2.05× → unstable, at 7.40 vs 4.25 bits/weight; unstable: high-resource ΔBPB within noise of 0',
  );
  // A real model's large degradation removed to slightly below 0 is no overshoot.
  const real = b004(1.05, {
    p0_low_delta_bpb: 0.2,
    optimal_low_delta_bpb: -0.01,
    optimal_low_delta_bpb_lo: -0.02,
    optimal_low_delta_bpb_hi: -0.005,
  });
  assert.equal(decide(Q('Q2'), source(real)).status, 'CONFIRMED');
});

function c(
  diff: number,
  lo: number,
  hi: number,
  sig: number,
  plans: { llo?: number; ulo?: number; sep?: number } = {},
): Row[] {
  return [
    ['C-002', 'layer_low_delta_bpb_lo', plans.llo ?? 0.01],
    ['C-002', 'layer_low_delta_bpb_hi', 0.05],
    ['C-002', 'uniform_low_delta_bpb_lo', plans.ulo ?? 0.01],
    ['C-002', 'uniform_low_delta_bpb_hi', 0.05],
    ['C-001', 'low_critical_layer', 3],
    ['C-001', 'high_critical_layer', 0],
    ['C-001', 'profile_rank_corr', 0.4],
    ['C-001', 'critical_separated', plans.sep ?? 1],
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
  assert.equal(
    v.evidence,
    'most sensitive block 3 (low-resource), 0 (high-resource), profiles ρ=0.40; critical set separated: 1; layer-specific − uniform (same share in every block) low ΔBPB -0.0200 [-0.0300, -0.0100] at 5.05/5.05 bits/weight',
  );
  // Critical blocks that do not separate from the next block (on the selection units) cannot confirm.
  const ns = evaluateQuestion(Q('Q3'), source(c(-0.02, -0.03, -0.01, 1, { sep: 0 })));
  assert.equal(ns.status, 'PARTIAL');
  assert.match(ns.evidence, /^layer-specific beats uniform, but the critical block\(s\) do not separate/);
  assert.equal(evaluateQuestion(Q('Q3'), source(c(0.02, 0.01, 0.03, 1))).status, 'REFUTED');
  assert.equal(evaluateQuestion(Q('Q3'), source(c(-0.01, -0.03, 0.01, 0))).status, 'PARTIAL');
});

test('Q3 on noise: a significant difference between plans that both leave no degradation distinguishable from 0 decides nothing', () => {
  const v = evaluateQuestion(Q('Q3'), source(c(0.0011, 0.0009, 0.0012, 1, { llo: -0.0002, ulo: -0.0015 })));
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /but the worse plan's low ΔBPB is within noise of 0 \(layer-specific \[-0\.0002, 0\.0500\], uniform \[-0\.0015, 0\.0500\]\)$/,
  );
  assert.equal(evaluateQuestion(Q('Q3'), source(c(-0.02, -0.03, -0.01, 1, { ulo: -0.001 }))).status, 'PARTIAL');
});

/**
 * D-001/D-002 rows: x = 1, a disparity 2.5 [1.6, 3.9]; x = 0, a ratio 1.1 [0.8, 1.5] (or `interval`: [ratio, lo, hi]).
 */
function d(
  x1: number,
  rho1: number,
  x2: number,
  rho2: number,
  interval: [number, number, number] = [1.1, 0.8, 1.5],
): Row[] {
  const rows: Row[] = [];
  for (const [id, model, x, rho] of [
    ['D-001', 'opt', x1, rho1],
    ['D-002', 'pythia', x2, rho2],
  ] as const) {
    rows.push(
      [id, 'ratio_dbpb', x ? 2.5 : interval[0], { model }],
      [id, 'ratio_dbpb_lo', x ? 1.6 : interval[1], { model }],
      [id, 'ratio_dbpb_hi', x ? 3.9 : interval[2], { model }],
    );
    rows.push(
      [id, 'ratio_excludes_1', x, { model }],
      [id, 'rank_corr_delta_bpb', rho, { model }],
      [id, 'rank_corr_delta_bpb_lo', rho - 0.2, { model }],
      [id, 'rank_corr_delta_bpb_hi', Math.min(1, rho + 0.2), { model }],
      [id, 'ratio_dbpb_unstable', 0, { model }],
    );
    for (const l of groups.low) rows.push([id, 'delta_bpb', 0.05, { model, language: l }]);
    for (const l of groups.high) rows.push([id, 'delta_bpb', x ? 0.02 : 0.045, { model, language: l }]);
  }
  return rows;
}

test('Q4: both models show disparity with the same pattern → confirmed; absence shown on both → refuted; mixed → partial', () => {
  const v = evaluateQuestion(Q('Q4'), source(d(1, 0.8, 1, 0.7)));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(
    v.evidence,
    /^opt 2\.50× \[1\.60, 3\.90\] \(ΔBPB low 0\.0500 \/ high 0\.0200\) ρ=0\.80 \[0\.60, 1\.00\]; pythia 2\.50× .* ρ=0\.70 \[0\.50, 0\.90\]; /,
  );
  // Not significant is not refuted: a stable 1.1 [0.8, 1.5] on both models is inconclusive.
  const ns = evaluateQuestion(Q('Q4'), source(d(0, 0.8, 0, 0.1)));
  assert.equal(ns.status, 'PARTIAL');
  assert.match(
    ns.evidence,
    /^inconclusive, neither a disparity nor its absence shown: opt 1\.10× \[0\.80, 1\.50\].*equivalence margin \[0\.80, 1\.25\]$/,
  );
  // Evidence of absence: within the equivalence margin, or below 1, on both models.
  const eq = evaluateQuestion(Q('Q4'), source(d(0, 0.8, 0, 0.1, [1.0, 0.85, 1.2])));
  assert.equal(eq.status, 'REFUTED');
  assert.match(
    eq.evidence,
    /^no disparity on either model: opt 1\.00× \[0\.85, 1\.20\].*within the equivalence margin \[0\.80, 1\.25\]$/,
  );
  assert.equal(evaluateQuestion(Q('Q4'), source(d(0, 0.8, 0, 0.1, [0.7, 0.5, 0.9]))).status, 'REFUTED');
  assert.equal(evaluateQuestion(Q('Q4'), source(d(0, 0.8, 0, 0.1, [1.0, 0.75, 1.2]))).status, 'PARTIAL'); // reaches below the margin
  // One replicate's interval reaching outside the margin is enough to keep it from refuting.
  const wide = d(0, 0.8, 0, 0.1, [1.0, 0.85, 1.2]).map((r) => [r[0], r[1], r[2], { ...r[3], replicate: 0 }] as Row);
  wide.push(...d(0, 0.8, 0, 0.1, [1.0, 0.85, 1.3]).map((r) => [r[0], r[1], r[2], { ...r[3], replicate: 1 }] as Row));
  assert.equal(evaluateQuestion(Q('Q4'), source(wide)).status, 'PARTIAL');
  // An unstable ratio on one model cannot refute: partial.
  const unstable = d(0, 0.8, 0, 0.1).map((r): Row =>
    r[0] === 'D-002' && r[1] === 'ratio_dbpb_unstable' ? [r[0], r[1], 1, r[3]] : r,
  );
  const u = evaluateQuestion(Q('Q4'), source(unstable));
  assert.equal(u.status, 'PARTIAL');
  // The unstable ratio is named, not quoted; the stable one keeps its number.
  assert.match(
    u.evidence,
    /^opt 1\.10× \[0\.80, 1\.50\] .*; pythia ratio unstable \(low 0\.0500 \/ high 0\.0450, high within noise of 0\) ρ=0\.10 \[-0\.10, 0\.30\]; /,
  );
  assert.equal(evaluateQuestion(Q('Q4'), source(d(1, 0.8, 0, 0.2))).status, 'PARTIAL');
  assert.equal(evaluateQuestion(Q('Q4'), source(d(1, 0.8, 1, 0.2))).status, 'PARTIAL'); // disparity, different pattern
});

test('Q2: a degradation below 0 is not "within noise": there is nothing to remove, and the evidence says why', () => {
  const v = decide(
    Q('Q2'),
    source(b004(0.6, { p0_low_delta_bpb: -0.0003, p0_low_delta_bpb_lo: -0.0004, p0_low_delta_bpb_hi: -0.0002 })),
  );
  assert.equal(v.status, 'PARTIAL');
  assert.match(
    v.evidence,
    /^no degradation to remove: low-resource ΔBPB without preservation -0\.0003 \[-0\.0004, -0\.0002\] bits\/byte lies below 0/,
  );
});

/** E-00x rows: the gap reduction of each arm against A-002's RTN, and A-003's RTN low-resource ΔBPB. */
function e(gaps: [number, number, number][], rtnLow = 0.2): Row[] {
  const rows: Row[] = [
    ['A-003', 'low_delta_bpb', rtnLow],
    ['A-003', 'low_delta_bpb_lo', rtnLow / 2],
  ];
  gaps.forEach(([g, lo, hi], i) =>
    rows.push(
      [`E-00${i + 1}`, 'gap_reduction', g],
      [`E-00${i + 1}`, 'gap_reduction_lo', lo],
      [`E-00${i + 1}`, 'gap_reduction_hi', hi],
    ),
  );
  return rows;
}

test('Q5: a method or source that narrows the gap significantly confirms; refuted only when every arm is within the relative margin', () => {
  const none: [number, number, number] = [0.001, -0.005, 0.006];
  const v = evaluateQuestion(Q('Q5'), source(e([none, none, [0.05, 0.02, 0.08], none, none])));
  assert.equal(v.status, 'CONFIRMED');
  assert.match(v.evidence, /GPTQ high 0\.0500 \[0\.0200, 0\.0800\]/);
  // Within ±10 % of RTN's low-resource ΔBPB (0.2 → ±0.02) on every arm: evidence of absence.
  assert.equal(evaluateQuestion(Q('Q5'), source(e([none, none, none, none, none]))).status, 'REFUTED');
  // The same intervals against a tiny RTN degradation are not "equivalent": not significant is not refuted.
  assert.equal(evaluateQuestion(Q('Q5'), source(e([none, none, none, none, none], 0.001))).status, 'PARTIAL');
  // Where RTN leaves no low-resource degradation (the mini models: −0.0003), a "significant" gap reduction decides
  // nothing.
  const noise = evaluateQuestion(Q('Q5'), source(e([none, [0.0001, 0.00001, 0.0001], none, none, none], -0.0003)));
  assert.equal(noise.status, 'PARTIAL');
  assert.match(noise.evidence, /^no low-resource degradation under RTN to redistribute/);
});
