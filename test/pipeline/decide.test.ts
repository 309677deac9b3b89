// The runner's decision for each experiment (src/pipeline/decide.ts) on toy integer graphs: a
// failure blocks its descendants naming the cause, a block upstream keeps its reason, --fail-fast's
// stop leaves the rest pending, unselected experiments keep or hold their stored state, and nothing is
// decided before its dependencies settle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decideExperiment,
  dependencyReason,
  type Decision,
  type DecideInput,
  type SettledState,
} from '../../src/pipeline/decide.ts';
import type { ExperimentStatus } from '../../src/pipeline/store.ts';

type Entry = DecideInput['entry'];
const entry = (extra: Partial<Entry> = {}): Entry => ({
  selected: true,
  upToDate: false,
  blocked: null,
  fingerprint: 'fp',
  toRun: [0],
  resultSource: null,
  ...extra,
});

/**
 * A toy run: experiments in plan order over a graph {id: deps}, each decided once its dependencies
 * settle (as the runner's scheduler does); a 'run' ends with the outcome given (default passed), a
 * 'reuse' passes. Returns each experiment's decision and final state.
 */
function simulate(
  graph: Record<number, number[]>,
  opts: {
    entries?: Record<number, Partial<Entry>>;
    outcomes?: Record<number, ExperimentStatus>;
    failFast?: boolean;
    stored?: Record<number, { status: ExperimentStatus; fingerprint: string | null }>;
  } = {},
): { decisions: Record<string, Decision>; states: Record<string, SettledState> } {
  const ids = Object.keys(graph);
  const states = new Map<string, SettledState>();
  const decisions: Record<string, Decision> = {};
  let stopReason: string | null = null;
  let waiting = [...ids];
  while (waiting.length > 0) {
    const before = waiting.length;
    for (const id of [...waiting]) {
      const d = decideExperiment({
        experiment: { id, dependsOn: graph[Number(id)].map(String) },
        entry: entry(opts.entries?.[Number(id)]),
        states,
        stored: opts.stored?.[Number(id)] ?? null,
        stopReason,
      });
      if (d.action === 'wait') continue;
      waiting = waiting.filter((w) => w !== id);
      decisions[id] = d;
      if (d.action === 'run') {
        const status = opts.outcomes?.[Number(id)] ?? 'passed';
        states.set(id, { status, reason: status === 'passed' ? null : 'boom' });
        if (status === 'failed' && opts.failFast) stopReason ??= `not run: --fail-fast stopped after ${id} failed`;
      } else if (d.action === 'reuse' || d.action === 'keep') states.set(id, { status: 'passed', reason: null });
      else if (d.action === 'hold') states.set(id, { status: d.status, reason: d.reason });
      else states.set(id, { status: d.action === 'block' ? 'blocked' : 'pending', reason: d.reason });
    }
    assert.ok(waiting.length < before, 'each pass decides something');
  }
  return { decisions, states: Object.fromEntries(states) };
}

const actions = (r: ReturnType<typeof simulate>) =>
  Object.fromEntries(Object.entries(r.decisions).map(([id, d]) => [id, d.action]));

test('nothing is decided while a dependency is undecided or running', () => {
  const input = (states: [string, SettledState][]): DecideInput => ({
    experiment: { id: '3', dependsOn: ['1', '2'] },
    entry: entry(),
    states: new Map(states),
    stored: null,
    stopReason: null,
  });
  assert.deepEqual(decideExperiment(input([])), { action: 'wait', on: '1' });
  assert.deepEqual(
    decideExperiment(
      input([
        ['1', { status: 'passed', reason: null }],
        ['2', { status: 'running', reason: null }],
      ]),
    ),
    { action: 'wait', on: '2' },
  );
  assert.deepEqual(
    decideExperiment(
      input([
        ['1', { status: 'passed', reason: null }],
        ['2', { status: 'passed', reason: null }],
      ]),
    ),
    { action: 'run', replicates: [0] },
  );
});

test('a failure blocks its descendants, naming the cause; independent experiments still run', () => {
  // 1 → 2 → 3, 1 → 4, 5 independent; 2 fails
  const r = simulate({ 1: [], 2: [1], 3: [2], 4: [1], 5: [] }, { outcomes: { 2: 'failed' } });
  assert.deepEqual(actions(r), { 1: 'run', 2: 'run', 3: 'block', 4: 'run', 5: 'run' });
  assert.deepEqual(r.decisions['3'], { action: 'block', reason: 'needs 2, which failed (boom)' });
});

test('a block upstream (a missing model) keeps its reason all the way down', () => {
  const r = simulate(
    { 1: [], 2: [1], 3: [2], 4: [3] },
    { entries: { 2: { blocked: 'model a is missing', fingerprint: null } } },
  );
  assert.deepEqual(actions(r), { 1: 'run', 2: 'block', 3: 'block', 4: 'block' });
  assert.equal(r.states['4'].reason, 'model a is missing');
  assert.equal(dependencyReason('7', { status: 'interrupted', reason: null }), 'needs 7, which was interrupted');
  assert.equal(
    dependencyReason('7', { status: 'pending', reason: 'not selected by --only/--from' }),
    'needs 7, which is pending (not selected by --only/--from)',
  );
});

test('--fail-fast: after a failure what has not started stays pending; results in the store are still reused', () => {
  // 1 fails; 2 depends on it (blocked: it cannot run whatever happens); 3 and 4 are independent,
  // 4 up to date (reused even after the stop); 5 depends on the pending 3 (pending too, not blocked).
  const r = simulate(
    { 1: [], 2: [1], 3: [], 4: [], 5: [3] },
    { outcomes: { 1: 'failed' }, failFast: true, entries: { 4: { upToDate: true, toRun: [] } } },
  );
  assert.deepEqual(actions(r), { 1: 'run', 2: 'block', 3: 'pend', 4: 'reuse', 5: 'pend' });
  assert.equal(r.states['3'].reason, 'not run: --fail-fast stopped after 1 failed');
  // without the stop, the same failure leaves 3 and 5 to run
  const noStop = simulate(
    { 1: [], 2: [1], 3: [], 4: [], 5: [3] },
    { outcomes: { 1: 'failed' }, entries: { 4: { upToDate: true, toRun: [] } } },
  );
  assert.deepEqual(actions(noStop), { 1: 'run', 2: 'block', 3: 'run', 4: 'reuse', 5: 'run' });
});

test('reuse and run: up-to-date results are reused (cache or import), the missing replicates run', () => {
  const r = simulate(
    { 1: [], 2: [1], 3: [2] },
    {
      entries: {
        1: { upToDate: true, toRun: [] },
        2: { upToDate: true, toRun: [], resultSource: 'import' },
        3: { toRun: [1, 2] },
      },
    },
  );
  assert.deepEqual(r.decisions, {
    1: { action: 'reuse', source: 'cache' },
    2: { action: 'reuse', source: 'import' },
    3: { action: 'run', replicates: [1, 2] },
  });
});

test('--only/--from: unselected experiments keep current results, else hold their stored state', () => {
  // 1 unselected and up to date (kept); 2 unselected, stale, stored passed under another fingerprint
  // (pending, recorded); 3 unselected, stored passed under the current fingerprint (passes, not
  // rewritten); 4 selected after 3 (runs); 5 selected after 2 (blocked: 2 is pending).
  const r = simulate(
    { 1: [], 2: [1], 3: [], 4: [3], 5: [2] },
    {
      entries: { 1: { selected: false, upToDate: true }, 2: { selected: false }, 3: { selected: false } },
      stored: { 2: { status: 'passed', fingerprint: 'old' }, 3: { status: 'passed', fingerprint: 'fp' } },
    },
  );
  assert.deepEqual(r.decisions['1'], { action: 'keep', source: 'cache' });
  assert.deepEqual(r.decisions['2'], {
    action: 'hold',
    status: 'pending',
    reason: 'not selected by --only/--from',
    record: true,
  });
  assert.deepEqual(r.decisions['3'], { action: 'hold', status: 'passed', reason: null, record: false });
  assert.deepEqual(r.decisions['4'], { action: 'run', replicates: [0] });
  assert.deepEqual(r.decisions['5'], {
    action: 'block',
    reason: 'needs 2, which is pending (not selected by --only/--from)',
  });
  // a never-run unselected experiment is recorded pending
  assert.deepEqual(simulate({ 1: [] }, { entries: { 1: { selected: false } } }).decisions['1'], {
    action: 'hold',
    status: 'pending',
    reason: 'not selected by --only/--from',
    record: true,
  });
});

test('an unselected experiment is never blocked or stopped: its stored state stands', () => {
  const r = simulate(
    { 1: [], 2: [1] },
    { outcomes: { 1: 'failed' }, failFast: true, entries: { 2: { selected: false, upToDate: true } } },
  );
  assert.deepEqual(actions(r), { 1: 'run', 2: 'keep' });
});
