// The scheduler's priorities (src/pipeline/priority.ts): the expected time from an experiment's start to
// the end of its longest chain of dependents, on toy plans.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Plan, PlanEntry } from '../../src/pipeline/plan.ts';
import { criticalPathMs } from '../../src/pipeline/priority.ts';

/** A plan of [id, deps, remainingMs] in topological order; `skip` ids are not selected. */
function plan(rows: [string, string[], number | null][], skip: string[] = []): Pick<Plan, 'order' | 'entries'> {
  const entries = new Map<string, PlanEntry>();
  for (const [id, deps, ms] of rows) {
    const e = { id, deps, selected: !skip.includes(id), blocked: null, toRun: [0], remainingMs: ms };
    entries.set(id, e as unknown as PlanEntry);
  }
  return { order: rows.map((r) => r[0]), entries };
}

test('the critical path runs through the longest chain of dependents', () => {
  // A → B → D, A → C; E alone and long: E before B, B before C
  const p = criticalPathMs(
    plan([
      ['A', [], 3000],
      ['B', ['A'], 5000],
      ['C', ['A'], 1000],
      ['D', ['B'], 2000],
      ['E', [], 14000],
    ]),
  );
  assert.deepEqual(Object.fromEntries(p), { A: 10000, B: 7000, C: 1000, D: 2000, E: 14000 });
});

test('unknown times count as the median known one; experiments that do not run count 0', () => {
  const p = criticalPathMs(
    plan(
      [
        ['A', [], 1000],
        ['B', ['A'], null],
        ['C', ['A'], 4000],
        ['D', ['B'], 9000],
        ['X', [], 100000],
      ],
      ['X'],
    ),
  );
  // known times of what runs: 1000, 4000, 9000 → median 4000 for B
  assert.equal(p.get('B'), 13000);
  assert.equal(p.get('A'), 14000);
  assert.equal(p.get('X'), 0);
  // nothing known: 1 s each
  const q = criticalPathMs(
    plan([
      ['A', [], null],
      ['B', ['A'], null],
    ]),
  );
  assert.deepEqual(Object.fromEntries(q), { A: 2000, B: 1000 });
});
