// Planner unit tests on toy integer graphs: order, ties, cycles, fingerprints, selection, resume.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ancestors,
  compareIds,
  descendants,
  findCycle,
  planPipeline,
  topoOrder,
  type StoredResults,
} from '../../src/pipeline/plan.ts';
import type { ExperimentSpec, PipelineSpec } from '../../src/pipeline/spec.ts';

const g = (edges: Record<number, number[]>) =>
  Object.entries(edges).map(([id, deps]) => ({ id, deps: deps.map(String) }));

test('topological order breaks ties by natural id order', () => {
  assert.deepEqual(topoOrder(g({ 3: [], 1: [], 2: [] })), ['1', '2', '3']);
  assert.deepEqual(topoOrder(g({ 10: [], 2: [], 1: [10] })), ['2', '10', '1']);
  // diamond: 1 → {2, 3} → 4, plus an independent 0
  assert.deepEqual(topoOrder(g({ 4: [2, 3], 3: [1], 2: [1], 1: [], 0: [] })), ['0', '1', '2', '3', '4']);
  // a later id that is ready earlier still waits for its turn among ready ones
  assert.deepEqual(topoOrder(g({ 1: [5], 5: [], 3: [] })), ['3', '5', '1']);
});

test('natural id comparison', () => {
  assert.ok(compareIds('A-2', 'A-10') < 0);
  assert.ok(compareIds('A-010', 'B-001') < 0);
  assert.ok(compareIds('9', '10') < 0);
  assert.equal(compareIds('x', 'x'), 0);
  assert.deepEqual(['B-001', 'A-003', 'A-001', 'C-2', 'C-10'].sort(compareIds), [
    'A-001',
    'A-003',
    'B-001',
    'C-2',
    'C-10',
  ]);
});

test('a cycle is reported with the ids around it', () => {
  assert.deepEqual(findCycle(g({ 1: [2], 2: [3], 3: [1], 4: [] })), ['1', '2', '3', '1']);
  assert.deepEqual(findCycle(g({ 1: [], 2: [2] })), ['2', '2']);
  assert.equal(findCycle(g({ 1: [], 2: [1], 3: [1, 2] })), null);
  assert.throws(() => topoOrder(g({ 1: [2], 2: [1] })), /cycle: 1 → 2 → 1/);
});

test('descendants and ancestors', () => {
  const n = g({ 1: [], 2: [1], 3: [2], 4: [1], 5: [] });
  assert.deepEqual([...descendants(n, ['2'])].sort(), ['2', '3']);
  assert.deepEqual([...descendants(n, ['1'])].sort(), ['1', '2', '3', '4']);
  assert.deepEqual([...ancestors(n, ['3'])].sort(), ['1', '2', '3']);
});

function exp(id: number, deps: number[], extra: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return {
    id: String(id),
    kind: 'k',
    title: null,
    phase: null,
    question: null,
    models: [],
    params: { n: id },
    dependsOn: deps.map(String),
    expectedRuntimeMs: 1000,
    timeoutMs: 3_600_000,
    replicates: 1,
    retries: 0,
    ...extra,
  };
}
function spec(experiments: ExperimentSpec[], seed = 0): PipelineSpec {
  return {
    file: null,
    dir: '/',
    name: 't',
    description: null,
    kindModules: [],
    seed,
    killGraceMs: 1000,
    models: {},
    corpus: { groups: {} },
    experiments,
    questions: [],
  };
}
const inputs = { version: '1.0.0', dataHash: 'd', modelHashes: { a: 'ha', b: 'hb' } as Record<string, string | null> };
const fps = (p: ReturnType<typeof planPipeline>) =>
  Object.fromEntries([...p.entries].map(([id, e]) => [id, e.fingerprint]));

test('a change reruns exactly what it affects', () => {
  const base = [exp(1, []), exp(2, [1]), exp(3, [2]), exp(4, [], { models: ['a'] }), exp(5, [4], { models: ['b'] })];
  const f0 = fps(planPipeline(spec(base), inputs));
  // same inputs, same fingerprints (deterministic)
  assert.deepEqual(fps(planPipeline(spec(base), inputs)), f0);
  // params of 2 → 2 and 3 change
  const p2 = base.map((e) => (e.id === '2' ? { ...e, params: { n: 99 } } : e));
  const f1 = fps(planPipeline(spec(p2), inputs));
  assert.deepEqual(
    Object.keys(f0).filter((k) => f0[k] !== f1[k]),
    ['2', '3'],
  );
  // param key order does not matter
  const reordered = base.map((e) => (e.id === '1' ? { ...e, params: { z: 1, n: 1 } } : e));
  const reordered2 = base.map((e) => (e.id === '1' ? { ...e, params: { n: 1, z: 1 } } : e));
  assert.equal(fps(planPipeline(spec(reordered), inputs))['1'], fps(planPipeline(spec(reordered2), inputs))['1']);
  // model a changes → 4 and its dependent 5
  const f2 = fps(planPipeline(spec(base), { ...inputs, modelHashes: { a: 'ha2', b: 'hb' } }));
  assert.deepEqual(
    Object.keys(f0).filter((k) => f0[k] !== f2[k]),
    ['4', '5'],
  );
  // tool version, data hash and seed change everything
  for (const f of [
    fps(planPipeline(spec(base), { ...inputs, version: '1.0.1' })),
    fps(planPipeline(spec(base), { ...inputs, dataHash: 'e' })),
    fps(planPipeline(spec(base, 1), inputs)),
  ])
    assert.ok(Object.keys(f0).every((k) => f0[k] !== f[k]));
  // the replicate count is not part of the fingerprint
  const r3 = base.map((e) => ({ ...e, replicates: 3 }));
  assert.deepEqual(fps(planPipeline(spec(r3), inputs)), f0);
});

function storedFrom(have: Record<string, number[]>, fpOf: Record<string, string | null>): StoredResults {
  return {
    passingReplicates: (id, fp) => new Set(fpOf[id] === fp ? (have[id] ?? []) : []),
    imported: () => null,
    pastDurationMs: (id) => (id === '1' ? 5000 : null),
  };
}

test('stored results make experiments up to date; missing replicates are run; past durations give the estimate', () => {
  const s = spec([exp(1, [], { replicates: 3 }), exp(2, [1]), exp(3, [])]);
  const f = fps(planPipeline(s, inputs));
  const p = planPipeline(s, inputs, storedFrom({ '1': [0, 2], '2': [0] }, f));
  assert.deepEqual(p.entries.get('1')!.toRun, [1]);
  assert.equal(p.entries.get('1')!.expectedMs, 5000);
  assert.equal(p.entries.get('2')!.upToDate, true);
  assert.deepEqual(p.entries.get('3')!.toRun, [0]);
  assert.equal(p.totalMs, 5000 + 1000);
});

test('selection: --only pulls in what it needs, --from what follows, --force invalidates dependents', () => {
  const s = spec([exp(1, []), exp(2, [1]), exp(3, [2]), exp(4, [])]);
  const f = fps(planPipeline(s, inputs));
  const all = storedFrom({ '1': [0], '2': [0], '3': [0], '4': [0] }, f);
  const sel = (x: Parameters<typeof planPipeline>[3]) => {
    const p = planPipeline(s, inputs, all, x);
    return {
      selected: p.order.filter((id) => p.entries.get(id)!.selected),
      run: p.order.filter((id) => p.entries.get(id)!.toRun.length > 0),
    };
  };
  assert.deepEqual(sel({ only: ['2'] }), { selected: ['1', '2'], run: [] });
  assert.deepEqual(sel({ from: ['2'] }), { selected: ['1', '2', '3'], run: [] });
  assert.deepEqual(sel({ force: ['2'] }), { selected: ['1', '2', '3', '4'], run: ['2', '3'] });
  assert.deepEqual(sel({ force: ['*'] }).run, ['1', '2', '3', '4']);
});

test('a missing model blocks its experiments and their dependents, not the others', () => {
  const s = spec([exp(1, [], { models: ['a'] }), exp(2, [1]), exp(3, [], { models: ['b'] })]);
  const p = planPipeline(s, {
    ...inputs,
    modelHashes: { a: null, b: 'hb' },
    modelProblems: { a: "model 'a' has no checkpoint at /x" },
  });
  assert.match(p.entries.get('1')!.blocked!, /no checkpoint at \/x/);
  assert.match(p.entries.get('2')!.blocked!, /needs 1, which is blocked/);
  assert.equal(p.entries.get('3')!.blocked, null);
});

test('an imported result stands in until forced, and dependents key on it', () => {
  const s = spec([exp(1, []), exp(2, [1])]);
  const st: StoredResults = {
    passingReplicates: () => new Set(),
    imported: (id) => (id === '1' ? { fingerprint: 'import:abc', note: 'from EXP-039 v3', replicates: 1 } : null),
    pastDurationMs: () => null,
  };
  const p = planPipeline(s, inputs, st);
  assert.equal(p.entries.get('1')!.upToDate, true);
  assert.equal(p.entries.get('1')!.resultSource, 'import');
  assert.equal(p.entries.get('1')!.importNote, 'from EXP-039 v3');
  assert.equal(p.entries.get('1')!.fingerprint, 'import:abc');
  const f2 = p.entries.get('2')!.fingerprint;
  assert.notEqual(f2, planPipeline(s, inputs).entries.get('2')!.fingerprint);
  const forced = planPipeline(s, inputs, st, { force: ['1'] });
  assert.deepEqual(forced.entries.get('1')!.toRun, [0]);
});
