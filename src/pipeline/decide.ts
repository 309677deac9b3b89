// The runner's decision for one experiment, as a pure function of the plan (src/pipeline/plan.ts,
// which already folds in --only/--from/--force and the stored results' fingerprints), the states its
// dependencies reached in this run, the experiment's stored row and --fail-fast's stop. The runner
// (runner.ts) applies it: scores reused results, writes states to the store, starts replicates.
//
//   wait    a dependency has not settled yet (not decided, or still running): ask again later
//   keep    not selected, and its stored results are for the current inputs: rescored, kept
//   hold    not selected, stored results stale or absent: pending (passed to its dependents only
//           when its stored row passed under the same fingerprint)
//   block   cannot run: a model is missing (the plan says so), or a dependency did not pass
//   pend    --fail-fast stopped the run before this experiment's turn
//   reuse   selected, its stored (or imported) results cover every replicate: scored, not run
//   run     selected, the listed replicates run

import type { PlanEntry } from './plan.ts';
import type { ExperimentStatus } from './store.ts';

/** What the runner knows of an experiment's state in this run (or of a dependency's). */
export interface SettledState {
  status: ExperimentStatus;
  reason: string | null;
}

export type Decision =
  | { action: 'wait'; on: string }
  | { action: 'keep'; source: 'cache' | 'import' }
  | { action: 'hold'; status: 'passed' | 'pending'; reason: string | null; record: boolean }
  | { action: 'block'; reason: string }
  | { action: 'pend'; reason: string }
  | { action: 'reuse'; source: 'cache' | 'import' }
  | { action: 'run'; replicates: number[] };

export interface DecideInput {
  experiment: { id: string; dependsOn: readonly string[] };
  entry: Pick<PlanEntry, 'selected' | 'upToDate' | 'blocked' | 'fingerprint' | 'toRun' | 'resultSource'>;
  /** States reached so far in this run, by experiment id ('running' is not settled). */
  states: ReadonlyMap<string, SettledState>;
  /** The experiment's row in the store before this decision (its last recorded state), if any. */
  stored: { status: ExperimentStatus; fingerprint: string | null } | null;
  /** Set once --fail-fast has stopped the run: the reason given to what does not start. */
  stopReason: string | null;
}

const NOT_SELECTED = 'not selected by --only/--from';

/** A dependency's state that is final for this run. */
export function isSettled(s: SettledState | undefined): s is SettledState {
  return s !== undefined && s.status !== 'running';
}

/** Decides one experiment (see the file's head for the actions). */
export function decideExperiment(x: DecideInput): Decision {
  const { experiment: e, entry, states, stored, stopReason } = x;
  const unsettled = e.dependsOn.find((d) => !isSettled(states.get(d)));
  if (unsettled !== undefined) return { action: 'wait', on: unsettled };
  const source = entry.resultSource === 'import' ? 'import' : 'cache';
  if (!entry.selected) {
    if (entry.upToDate) return { action: 'keep', source };
    const current = stored !== null && stored.fingerprint === entry.fingerprint;
    const passed = current && stored.status === 'passed';
    return {
      action: 'hold',
      status: passed ? 'passed' : 'pending',
      reason: passed ? null : NOT_SELECTED,
      record: !current,
    };
  }
  if (entry.blocked) return { action: 'block', reason: entry.blocked };
  const bad = e.dependsOn.map((d) => [d, states.get(d)!] as const).find(([, s]) => s.status !== 'passed');
  if (bad) {
    const [d, s] = bad;
    // A failure or a block upstream blocks; a dependency merely left pending by the stop leaves this
    // one pending too (it may run next time), unless no stop applies.
    if (stopReason && s.status !== 'failed' && s.status !== 'blocked') return { action: 'pend', reason: stopReason };
    return { action: 'block', reason: dependencyReason(d, s) };
  }
  if (stopReason && !entry.upToDate) return { action: 'pend', reason: stopReason };
  if (entry.upToDate) return { action: 'reuse', source };
  return { action: 'run', replicates: [...entry.toRun] };
}

/** Why a dependency that did not pass blocks its dependents (a block upstream keeps its own reason). */
export function dependencyReason(dep: string, s: SettledState): string {
  if (s.status === 'blocked' && s.reason) return s.reason;
  const what = s.status === 'failed' ? 'failed' : s.status === 'interrupted' ? 'was interrupted' : `is ${s.status}`;
  return `needs ${dep}, which ${what}${s.reason ? ` (${s.reason})` : ''}`;
}
