// The planner: pure functions from a pipeline spec, content hashes and what the store already holds
// to the order of experiments, their fingerprints and what must run. No I/O here, so it is tested on
// toy integer graphs. Reference: DVC's repo/reproduce.py (a pure plan, dependents of failures skipped).
//
// Fingerprint of an experiment = SHA-256 of the canonical JSON of its kind, normalised params, the
// content hashes of the models it uses, the data hash, the base seed, the fingerprints of its
// dependencies and the tool's version. The replicate count is not part of it: raising it runs only
// the new replicates.

import { canonicalJson, sha256 } from './hash.ts';
import type { ExperimentSpec, PipelineSpec } from './spec.ts';

export interface GraphNode {
  id: string;
  deps: readonly string[];
}

/** Natural order of ids: digit runs compare as numbers ("2" < "10", "A-2" < "A-10"). */
export function compareIds(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A cycle as its ids with the first repeated at the end (["a","b","a"]), or null. Unknown deps are ignored. */
export function findCycle(nodes: readonly GraphNode[]): string[] | null {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    state.set(id, 1);
    stack.push(id);
    for (const d of [...(byId.get(id)?.deps ?? [])].sort(compareIds)) {
      if (!byId.has(d)) continue;
      const s = state.get(d);
      if (s === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (s === undefined) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(id, 2);
    return null;
  };
  for (const id of [...byId.keys()].sort(compareIds)) {
    if (state.get(id) === undefined) {
      const c = visit(id);
      if (c) return c;
    }
  }
  return null;
}

/** Topological order (Kahn), ties broken by natural id order. Throws on a cycle naming its ids. */
export function topoOrder(nodes: readonly GraphNode[]): string[] {
  const cycle = findCycle(nodes);
  if (cycle) throw new Error(`dependency cycle: ${cycle.join(' → ')}`);
  const indeg = new Map<string, number>();
  const children = new Map<string, string[]>();
  const known = new Set(nodes.map((n) => n.id));
  for (const n of nodes) {
    indeg.set(n.id, n.deps.filter((d) => known.has(d)).length);
    for (const d of n.deps) if (known.has(d)) (children.get(d) ?? children.set(d, []).get(d)!).push(n.id);
  }
  const ready = [...known].filter((id) => indeg.get(id) === 0);
  const out: string[] = [];
  while (ready.length > 0) {
    ready.sort(compareIds);
    const id = ready.shift()!;
    out.push(id);
    for (const c of children.get(id) ?? []) {
      const k = indeg.get(c)! - 1;
      indeg.set(c, k);
      if (k === 0) ready.push(c);
    }
  }
  return out;
}

/** Every id reachable from `roots` along `next` (the roots included). */
function reachable(roots: Iterable<string>, next: (id: string) => readonly string[] | undefined): Set<string> {
  const out = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const id = todo.pop()!;
    if (out.has(id)) continue;
    out.add(id);
    todo.push(...(next(id) ?? []));
  }
  return out;
}

/** All nodes reachable downstream of `roots` (the roots included). */
export function descendants(nodes: readonly GraphNode[], roots: Iterable<string>): Set<string> {
  const children = new Map<string, string[]>();
  for (const n of nodes) for (const d of n.deps) (children.get(d) ?? children.set(d, []).get(d)!).push(n.id);
  return reachable(roots, (id) => children.get(id));
}

/** All nodes upstream of `roots` (the roots included). */
export function ancestors(nodes: readonly GraphNode[], roots: Iterable<string>): Set<string> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return reachable(roots, (id) => byId.get(id)?.deps);
}

export interface FingerprintInputs {
  version: string;
  dataHash: string;
  /** Content hash of each model alias, or null when its checkpoint is missing. */
  modelHashes: Readonly<Record<string, string | null>>;
  /** Why a model alias cannot be used (missing checkpoint), by alias. */
  modelProblems?: Readonly<Record<string, string>>;
}

export function fingerprint(
  e: Pick<ExperimentSpec, 'kind' | 'params'>,
  modelHashes: Readonly<Record<string, string>>,
  depFingerprints: Readonly<Record<string, string>>,
  dataHash: string,
  seed: number,
  version: string,
): string {
  return sha256(
    canonicalJson({
      v: 1,
      tool: version,
      kind: e.kind,
      params: e.params,
      models: modelHashes,
      data: dataHash,
      seed,
      deps: depFingerprints,
    }),
  );
}

/** What the store already holds, as the planner needs it. */
export interface StoredResults {
  /** Replicate indices with a passing attempt for this experiment and fingerprint. */
  passingReplicates(id: string, fingerprint: string): ReadonlySet<number>;
  /** The latest imported result of an experiment, if any. */
  imported(id: string): { fingerprint: string; note: string | null; replicates: number } | null;
  /** Mean duration of past passing replicates of this experiment, if any. */
  pastDurationMs(id: string): number | null;
}

export const NOTHING_STORED: StoredResults = {
  passingReplicates: () => new Set(),
  imported: () => null,
  pastDurationMs: () => null,
};

export interface Selection {
  only?: readonly string[];
  from?: readonly string[];
  force?: readonly string[]; // ids, or '*' for all
}

export interface PlanEntry {
  id: string;
  kind: string;
  deps: string[];
  /** null when it cannot be computed (a model is missing here or upstream). */
  fingerprint: string | null;
  /** Why the experiment cannot run at all (missing model, here or in a dependency). */
  blocked: string | null;
  selected: boolean;
  forced: boolean;
  /** Stored results cover every replicate (or an import stands in) and it is not forced. */
  upToDate: boolean;
  /** 'import' when an imported result stands in for the experiment. */
  resultSource: 'run' | 'import' | null;
  importNote: string | null;
  replicates: number;
  /** Replicate indices to run. */
  toRun: number[];
  /** Expected time of one replicate: past runs, else expectedRuntime, else null. */
  expectedMs: number | null;
  /** Expected time of what is to run. */
  remainingMs: number | null;
}

export interface Plan {
  order: string[];
  entries: Map<string, PlanEntry>;
  /** Sum of remainingMs (unknown ones counted as 0) and how many are unknown. */
  totalMs: number;
  unknownRuntimes: number;
}

/** Unknown ids in a selection, as messages; the CLI turns them into a UserError. */
export function checkSelection(spec: PipelineSpec, sel: Selection): string[] {
  const ids = new Set(spec.experiments.map((e) => e.id));
  const bad: string[] = [];
  for (const [flag, list] of [
    ['--only', sel.only],
    ['--from', sel.from],
    ['--force', sel.force],
  ] as const)
    for (const id of list ?? [])
      if (!(id === '*' && flag === '--force') && !ids.has(id))
        bad.push(`${flag} ${id}: no experiment has this id (ids: ${[...ids].sort(compareIds).join(', ')})`);
  return bad;
}

/**
 * The plan. Selection: `only` = those experiments and what they need; `from` = those and everything
 * downstream (and what they need); `force` = rerun those and invalidate everything downstream.
 */
export function planPipeline(
  spec: PipelineSpec,
  inputs: FingerprintInputs,
  stored: StoredResults = NOTHING_STORED,
  sel: Selection = {},
): Plan {
  const nodes: GraphNode[] = spec.experiments.map((e) => ({ id: e.id, deps: e.dependsOn }));
  const order = topoOrder(nodes);
  const byId = new Map(spec.experiments.map((e) => [e.id, e]));

  let targets: Set<string> | null = null;
  if (sel.only?.length) targets = new Set(sel.only);
  if (sel.from?.length) {
    const down = descendants(nodes, sel.from);
    targets = targets ? new Set([...targets, ...down]) : down;
  }
  const selected = targets ? ancestors(nodes, targets) : new Set(order);
  const forced = sel.force?.includes('*') ? new Set(order) : descendants(nodes, sel.force ?? []);

  const entries = new Map<string, PlanEntry>();
  let totalMs = 0;
  let unknownRuntimes = 0;
  for (const id of order) {
    const e = byId.get(id)!;
    let blocked: string | null = null;
    const mh: Record<string, string> = {};
    for (const a of e.models) {
      const h = inputs.modelHashes[a];
      if (h == null) blocked ??= inputs.modelProblems?.[a] ?? `model '${a}' is not available`;
      else mh[a] = h;
    }
    const depFp: Record<string, string> = {};
    for (const d of e.dependsOn) {
      const de = entries.get(d)!;
      if (de.fingerprint === null) blocked ??= `needs ${d}, which is blocked (${de.blocked})`;
      else depFp[d] = de.fingerprint;
    }
    const isForced = forced.has(id);
    let fp: string | null = null;
    let upToDate = false;
    let resultSource: PlanEntry['resultSource'] = null;
    let importNote: string | null = null;
    let toRun: number[] = [];
    if (blocked === null) {
      fp = fingerprint(e, mh, depFp, inputs.dataHash, spec.seed, inputs.version);
      const have = stored.passingReplicates(id, fp);
      const all = Array.from({ length: e.replicates }, (_, k) => k);
      const missing = all.filter((k) => !have.has(k));
      const imp = stored.imported(id);
      if (!isForced && missing.length === 0) {
        upToDate = true;
        resultSource = 'run';
      } else if (!isForced && imp && have.size === 0) {
        // An imported result stands in until the experiment is forced; dependents key on its fingerprint.
        upToDate = true;
        resultSource = 'import';
        importNote = imp.note;
        fp = imp.fingerprint;
      } else {
        toRun = isForced ? all : missing;
      }
    }
    const past = stored.pastDurationMs(id);
    const expectedMs = past ?? e.expectedRuntimeMs;
    const willRun = selected.has(id) && blocked === null ? toRun.length : 0;
    const remainingMs = expectedMs === null ? null : expectedMs * willRun;
    if (willRun > 0) {
      if (remainingMs === null) unknownRuntimes++;
      else totalMs += remainingMs;
    }
    entries.set(id, {
      id,
      kind: e.kind,
      deps: [...e.dependsOn],
      fingerprint: fp,
      blocked,
      selected: selected.has(id),
      forced: isForced,
      upToDate,
      resultSource,
      importNote,
      replicates: e.replicates,
      toRun,
      expectedMs,
      remainingMs,
    });
  }
  return { order, entries, totalMs, unknownRuntimes };
}
