// Which ready experiment the scheduler starts first when several replicates run at once (--jobs > 1):
// the one with the longest expected time from its start to the end of the run through its chain of
// dependents (critical-path list scheduling). A long experiment that nothing waits for (the built-in
// study's E-005) then starts early, beside the short ones, instead of last and alone on one core.
// A pure function of the plan: each experiment's expected time of what is to run (plan.ts
// remainingMs: past runs, else expectedRuntime, times the replicates to run); an unknown time counts
// as the median of the known ones (1 s when none is known); what does not run counts 0.

import type { Plan } from './plan.ts';

/** Expected ms from each experiment's start to the end of its longest chain of dependents. */
export function criticalPathMs(plan: Pick<Plan, 'order' | 'entries'>): Map<string, number> {
  const runs = (id: string) => {
    const e = plan.entries.get(id)!;
    return e.selected && e.blocked === null && e.toRun.length > 0;
  };
  const known = plan.order
    .filter(runs)
    .map((id) => plan.entries.get(id)!.remainingMs)
    .filter((ms): ms is number => ms !== null)
    .sort((a, b) => a - b);
  const fallback = known.length ? known[Math.floor(known.length / 2)] : 1000;
  const own = (id: string) => (runs(id) ? (plan.entries.get(id)!.remainingMs ?? fallback) : 0);
  const dependents = new Map<string, string[]>(plan.order.map((id) => [id, []]));
  for (const id of plan.order) for (const d of plan.entries.get(id)!.deps) dependents.get(d)?.push(id);
  const memo = new Map<string, number>();
  // plan.order is a topological order (dependencies first): walk it backwards
  for (let i = plan.order.length - 1; i >= 0; i--) {
    const id = plan.order[i];
    let after = 0;
    for (const d of dependents.get(id)!) after = Math.max(after, memo.get(d) ?? 0);
    memo.set(id, own(id) + after);
  }
  return memo;
}
