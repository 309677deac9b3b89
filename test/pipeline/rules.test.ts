// Research-question rules on constructed evidence, the expression language, templates, the default
// consistency rule and replicate statistics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConsistency, type MetricRow } from '../../src/pipeline/kind.ts';
import {
  compileExpr,
  defaultAcross,
  evalExpr,
  evaluateQuestion,
  formatNumber,
  renderTemplate,
  selectValue,
  type EvidenceSource,
  type QuestionSpec,
  type QuestionVerdict,
} from '../../src/pipeline/rules.ts';
import { spearman, summarize } from '../../src/pipeline/stats.ts';

const ev = (s: string, env: Record<string, number> = {}) => evalExpr(compileExpr(s).ast, env);

test('expressions: precedence, booleans, functions, NaN comparisons are false', () => {
  assert.equal(ev('1 + 2 * 3'), 7);
  assert.equal(ev('-(1 + 2) * 3'), -9);
  assert.equal(ev('x > 1 and not y < 0 or false', { x: 2, y: 1 }), 1);
  assert.equal(ev('x > 1 && !(y < 0)', { x: 0.5, y: 1 }), 0);
  assert.equal(ev('max(a, b, 3) - min(a, b)', { a: 1, b: 5 }), 4);
  assert.equal(ev('abs(-2) == 2 and sqrt(4) == 2 and isfinite(x) == 0', { x: Infinity }), 1);
  assert.equal(ev('x > 1', { x: NaN }), 0);
  assert.equal(ev('x <= 1', { x: NaN }), 0);
  assert.equal(ev('1e3 / 4'), 250);
  assert.deepEqual([...compileExpr('a + b * a').ids].sort(), ['a', 'b']);
  assert.throws(() => compileExpr('a >'), /expected a value at the end/);
  assert.throws(() => compileExpr('a $ b'), /unexpected '\$' at column 3/);
  assert.throws(() => compileExpr('foo(1)'), /unknown function 'foo'/);
  assert.throws(() => compileExpr('(a'), /expected '\)'/);
  assert.throws(() => compileExpr('a b'), /unexpected at 'b'/);
});

test('templates and number formats', () => {
  assert.equal(
    renderTemplate('disparity {r:.1f}× [{lo:.1f}, {hi:.1f}], {n} of {m}; {p:.0%}', {
      r: 3.44,
      lo: 2.06,
      hi: 5.0,
      n: 3,
      m: 3,
      p: 0.25,
    }),
    'disparity 3.4× [2.1, 5.0], 3 of 3; 25 %',
  );
  assert.equal(formatNumber(0.0123456), '0.0123');
  assert.equal(formatNumber(NaN), 'n/a');
  assert.equal(formatNumber(-Infinity), '−∞');
  assert.equal(formatNumber(1234.5, '.2g'), '1200');
  assert.equal(formatNumber(2.5, 'd'), '3');
});

const row = (
  experiment: string,
  replicate: number,
  metric: string,
  value: number,
  language: string | null = null,
  model: string | null = 'base',
): MetricRow => ({ experiment, replicate, metric, value, language, model, source: 'run' });

function source(
  rows: MetricRow[],
  states: Record<string, { status: string; complete: boolean }>,
  consistency: Record<string, { ok: boolean; agreeing: number; total: number }> = {},
): EvidenceSource {
  return {
    groups: { low: ['sw', 'yo'], high: ['en', 'fr'] },
    state: (id) =>
      states[id] ? { ...states[id], reason: states[id].status === 'failed' ? 'timed out after 1h' : null } : undefined,
    metrics: (id) => rows.filter((r) => r.experiment === id),
    consistency: (id) => (consistency[id] ? { ...consistency[id], detail: '' } : null),
  };
}

const disparity: QuestionSpec = {
  id: 'Q1',
  question: 'Is disparity real?',
  experiments: ['A-002', 'A-003'],
  rule: {
    values: {
      ratio: { experiment: 'A-003', metric: 'ratio' },
      lo: { experiment: 'A-003', metric: 'ratio_lo' },
      hi: { experiment: 'A-003', metric: 'ratio_hi' },
      stable: { experiment: 'A-003', metric: 'stable', within: 'min', across: 'min' },
      low: { experiment: 'A-002', metric: 'dbpb', language: '@low' },
      agree: { experiment: 'A-003', consistency: 'agreeing' },
      reps: { experiment: 'A-003', consistency: 'total' },
    },
    cases: [
      {
        when: 'stable == 0',
        status: 'PARTIAL',
        evidence: 'ratio unstable (high-resource degradation ≤ 0 or interval contains 0); low-resource ΔBPB {low:.3f}',
      },
      { when: 'lo > 1 and agree == reps', status: 'CONFIRMED', evidence: null },
      { when: 'hi < 1', status: 'REFUTED', evidence: null },
      { when: null, status: 'PARTIAL', evidence: null },
    ],
    evidence: 'disparity {ratio:.1f}× [{lo:.1f}, {hi:.1f}] ΔBPB, consistent in {agree}/{reps} replicates',
  },
};
const done = { 'A-002': { status: 'passed', complete: true }, 'A-003': { status: 'passed', complete: true } };
const a002 = [
  row('A-002', 0, 'dbpb', 0.3, 'sw'),
  row('A-002', 0, 'dbpb', 0.5, 'yo'),
  row('A-002', 0, 'dbpb', 0.1, 'en'),
];
const a003 = (r: number, lo: number, hi: number, stable = 1, reps = 3) =>
  Array.from({ length: reps }, (_, k) => [
    row('A-003', k, 'ratio', r),
    row('A-003', k, 'ratio_lo', lo),
    row('A-003', k, 'ratio_hi', hi),
    row('A-003', k, 'stable', stable),
  ]).flat();

test('a declarative rule decides CONFIRMED / REFUTED / PARTIAL with numbers in the evidence', () => {
  const c3 = { 'A-003': { ok: true, agreeing: 3, total: 3 } };
  const v = evaluateQuestion(disparity, source([...a002, ...a003(3.4, 2.1, 5.0)], done, c3));
  assert.equal(v.status, 'CONFIRMED');
  assert.equal(v.evidence, 'disparity 3.4× [2.1, 5.0] ΔBPB, consistent in 3/3 replicates');
  assert.equal(evaluateQuestion(disparity, source([...a002, ...a003(0.5, 0.3, 0.8)], done, c3)).status, 'REFUTED');
  assert.equal(evaluateQuestion(disparity, source([...a002, ...a003(1.2, 0.8, 1.6)], done, c3)).status, 'PARTIAL');
});

test('an unstable ratio and inconsistent replicates are not confirmed', () => {
  const unstable = evaluateQuestion(
    disparity,
    source([...a002, ...a003(9, 2, 40, 0)], done, { 'A-003': { ok: true, agreeing: 3, total: 3 } }),
  );
  assert.equal(unstable.status, 'PARTIAL');
  assert.equal(
    unstable.evidence,
    'ratio unstable (high-resource degradation ≤ 0 or interval contains 0); low-resource ΔBPB 0.400',
  );
  const inconsistent = evaluateQuestion(
    disparity,
    source(
      [...a002, ...a003(3.4, 2.1, 5.0)],
      { ...done, 'A-003': { status: 'failed', complete: true } },
      { 'A-003': { ok: false, agreeing: 2, total: 3 } },
    ),
  );
  assert.equal(inconsistent.status, 'PARTIAL');
  assert.match(inconsistent.evidence, /consistent in 2\/3 replicates/);
});

test('PENDING while an experiment has no complete results, or a value has no rows', () => {
  const v = evaluateQuestion(
    disparity,
    source(a002, { 'A-002': { status: 'passed', complete: true }, 'A-003': { status: 'failed', complete: false } }),
  );
  assert.equal(v.status, 'PENDING');
  assert.equal(v.evidence, 'waiting for A-003 (failed: timed out after 1h)');
  assert.equal(evaluateQuestion(disparity, source(a002, {})).evidence, 'waiting for A-002, A-003');
  const missing = evaluateQuestion(disparity, source(a002, done, { 'A-003': { ok: true, agreeing: 1, total: 1 } }));
  assert.equal(missing.status, 'PENDING');
  assert.match(missing.evidence, /no stored values for ratio \(A-003 ratio\)/);
});

test('selectors: across replicates (mean, sd, lo/hi, n) after within-replicate reduction', () => {
  const rows = [0, 1, 2].flatMap((k) => [
    row('X', k, 'd', 1 + k, 'sw'),
    row('X', k, 'd', 3 + k, 'yo'),
    row('X', k, 'd', 100, 'en'),
  ]);
  const q = (values: Record<string, object>, evidence: string): QuestionSpec => ({
    id: 'Q',
    question: '?',
    experiments: ['X'],
    rule: { values: values as never, cases: [{ when: null, status: 'PARTIAL', evidence: null }], evidence },
  });
  const src = source(rows, { X: { status: 'passed', complete: true } });
  const v = evaluateQuestion(
    q(
      {
        m: { experiment: 'X', metric: 'd', language: '@low' },
        sd: { experiment: 'X', metric: 'd', language: '@low', across: 'sd' },
        n: { experiment: 'X', metric: 'd', across: 'n' },
        mx: { experiment: 'X', metric: 'd', language: '@low', within: 'max', across: 'max' },
        lo: { experiment: 'X', metric: 'd', language: 'sw', across: 'lo' },
        r1: { experiment: 'X', metric: 'd', language: 'sw', replicate: 1 },
      },
      '{m} {sd} {n} {mx} {lo:.3f} {r1}',
    ),
    src,
  );
  assert.equal(v.evidence, '3 1 3 5 -0.484 2');
});

test('selectors: an interval bound (_lo/_hi) defaults to the worst replicate; an explicit across wins', () => {
  // Three replicates whose lower bounds are 1.2, 0.9, 1.3: the mean (1.13) is above 1, the worst (0.9) is not.
  const rows = [
    [1.2, 2.0],
    [0.9, 2.6],
    [1.3, 1.8],
  ].flatMap(([lo, hi], k) => [
    row('X', k, 'ratio_lo', lo),
    row('X', k, 'ratio_hi', hi),
    row('X', k, 'ratio', (lo + hi) / 2),
  ]);
  const src = source(rows, { X: { status: 'passed', complete: true } });
  const val = (sel: object) => selectValue({ experiment: 'X', ...sel }, src).value;
  assert.equal(val({ metric: 'ratio_lo' }), 0.9);
  assert.equal(val({ metric: 'ratio_hi' }), 2.6);
  assert.equal(val({ metric: 'ratio' }), (1.6 + 1.75 + 1.55) / 3);
  assert.ok(Math.abs(val({ metric: 'ratio_lo', across: 'mean' }) - 3.4 / 3) < 1e-12);
  assert.equal(val({ metric: 'ratio_hi', across: 'min' }), 1.8);
  assert.deepEqual(
    [
      defaultAcross('delta_bpb_lo'),
      defaultAcross('delta_bpb_hi'),
      defaultAcross('delta_bpb'),
      defaultAcross('ratio_high'),
      defaultAcross(undefined),
    ],
    ['min', 'max', 'mean', 'mean', 'mean'],
  );
  // So Q1's rule does not confirm when one replicate's interval reaches below 1.
  const q1: QuestionSpec = {
    ...disparity,
    experiments: ['X'],
    rule: {
      values: { lo: { experiment: 'X', metric: 'ratio_lo' }, hi: { experiment: 'X', metric: 'ratio_hi' } },
      cases: [
        { when: 'lo > 1', status: 'CONFIRMED', evidence: null },
        { when: null, status: 'PARTIAL', evidence: null },
      ],
      evidence: '[{lo}, {hi}]',
    },
  };
  const v = evaluateQuestion(q1, src);
  assert.deepEqual([v.status, v.evidence], ['PARTIAL', '[0.9, 2.6]']);
});

test('rule params: named constants usable in when and in evidence templates', () => {
  const q4 = (lo: number, hi: number): QuestionVerdict => {
    const rows = [row('D', 0, 'r_lo', lo), row('D', 0, 'r_hi', hi)];
    const spec: QuestionSpec = {
      id: 'Q4',
      question: 'scales?',
      experiments: ['D'],
      rule: {
        params: { margin_lo: 0.8, margin_hi: 1.25 },
        values: { lo: { experiment: 'D', metric: 'r_lo' }, hi: { experiment: 'D', metric: 'r_hi' } },
        cases: [
          { when: 'lo > 1', status: 'CONFIRMED', evidence: null },
          {
            when: 'hi < 1 or (lo >= margin_lo and hi <= margin_hi)',
            status: 'REFUTED',
            evidence: '[{lo}, {hi}] within the margin [{margin_lo}, {margin_hi}]',
          },
          {
            when: null,
            status: 'PARTIAL',
            evidence: 'inconclusive: [{lo}, {hi}] neither above 1 nor within [{margin_lo}, {margin_hi}]',
          },
        ],
        evidence: null,
      },
    };
    return evaluateQuestion(spec, source(rows, { D: { status: 'passed', complete: true } }));
  };
  const within = q4(0.85, 1.2);
  assert.deepEqual([within.status, within.evidence], ['REFUTED', '[0.85, 1.2] within the margin [0.8, 1.25]']);
  const wide = q4(0.8, 1.5);
  assert.deepEqual(
    [wide.status, wide.evidence],
    ['PARTIAL', 'inconclusive: [0.8, 1.5] neither above 1 nor within [0.8, 1.25]'],
  );
  assert.equal(q4(0.5, 0.9).status, 'REFUTED');
  assert.equal(q4(1.1, 1.3).status, 'CONFIRMED');
});

test('default consistency: same sign and rank correlation of per-language values', () => {
  const reps = (vals: number[][]) =>
    vals.map((vs, k) => ({ replicate: k, metrics: vs.map((v, i) => row('X', k, 'd', v, `l${i}`)) }));
  const good = defaultConsistency(
    reps([
      [1, 2, 3, 4],
      [1.1, 2.2, 2.9, 4.2],
      [0.9, 2.1, 3.2, 3.9],
    ]),
    ['d'],
  );
  assert.deepEqual({ ok: good.ok, agreeing: good.agreeing, total: good.total }, { ok: true, agreeing: 3, total: 3 });
  const flipped = defaultConsistency(
    reps([
      [1, 2, 3, 4],
      [-1, -2, -3, -4],
      [1, 2, 3, 4],
    ]),
    ['d'],
  );
  assert.equal(flipped.ok, false);
  assert.equal(flipped.agreeing, 2);
  assert.match(flipped.detail, /consistent in 2\/3 replicates: d r1 has sign -1 \(most have 1\)/);
  const shuffled = defaultConsistency(
    reps([
      [1, 2, 3, 4],
      [4, 3, 2, 1.5],
      [1, 2, 3, 4],
    ]),
    ['d'],
  );
  assert.equal(shuffled.ok, false);
  assert.match(shuffled.detail, /r1 rank correlation -1\.00 < 0\.8 with the others/);
  assert.equal(defaultConsistency(reps([[1, 2]]), ['d']).detail, 'single replicate');
});

test('statistics: t-interval and Spearman with ties', () => {
  const s = summarize([1, 2, 3]);
  assert.equal(s.mean, 2);
  assert.equal(s.sd, 1);
  assert.ok(Math.abs(s.hi - (2 + (4.303 * 1) / Math.sqrt(3))) < 1e-12);
  assert.deepEqual(summarize([5]), { n: 1, mean: 5, sd: NaN, lo: 5, hi: 5 });
  assert.equal(spearman([1, 2, 3], [10, 20, 30]), 1);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 2, 3, 4]) - 0.9486832980505138) < 1e-12);
  assert.equal(spearman([1, 1, 1], [1, 2, 3]), 0);
});
