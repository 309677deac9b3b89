// The runner (orchestrator): executes a plan, each replicate as one job of an executor (a local
// child process, or a Slurm job: executor.ts, slurm.ts), up to --jobs at once with dependencies
// respected, with a hard timeout enforced here (SIGTERM or scancel, then SIGKILL after a grace
// period), its output captured to RUNDIR/logs/<id>.r<k>.log. A failed, timed-out or crashed
// experiment is recorded with its reason; its dependents are blocked naming the cause; independent
// experiments still run. Results are stored per attempt in one transaction, so a killed orchestrator
// loses at most the replicates in flight and a rerun continues from there; Slurm jobs outlive a killed
// orchestrator, and the next run adopts them (their job ids are in the store) or takes their results.
// Each experiment's decision (wait, keep, hold, block, pend, reuse, run) is a pure function of the plan
// and the states so far (decide.ts); this file applies it and does the effects. A free slot may be
// lent to a running replicate on the critical path as a helper lane (lanes.ts).
// Reference: DVC's reproduce loop (skip dependents of failures), Snakemake's retries, DESIGN.md §6.

import { appendFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../errors.ts';
import { deriveSeed } from '../util/rng.ts';
import { VERSION } from '../version.ts';
import {
  LocalExecutor,
  type Executor,
  type ExecutorName,
  type JobEnd,
  type JobRequest,
  type SlurmResources,
} from './executor.ts';
import {
  EXIT_NO_JOB_FILE,
  decodeNumber,
  encodeNumber,
  type ChildJob,
  type ChildResult,
  type DependencySnapshot,
} from './protocol.ts';
import { SlurmExecutor, mergeSlurm } from './slurm.ts';
import { formatDuration } from './duration.ts';
import { canonicalJson, contentHash, hashFile, sha256 } from './hash.ts';
import {
  defaultConsistency,
  keyMetricsOf,
  type ConsistencyResult,
  type KindRegistry,
  type MetricInput,
  type ResolvedModel,
} from './kind.ts';
import {
  planPipeline,
  type FingerprintInputs,
  type Plan,
  type PlanEntry,
  type Selection,
  type StoredResults,
} from './plan.ts';
import { collectProvenance } from './provenance.ts';
import { decideExperiment, isSettled } from './decide.ts';
import { criticalPathMs } from './priority.ts';
import { helperToPreempt, pickHelped, runHelper, type Helpable } from './lanes.ts';
import type { ExperimentSpec, PipelineSpec } from './spec.ts';
import {
  Store,
  ensureRunDir,
  isProcessAlive,
  type AttemptRow,
  type AttemptStatus,
  type ExperimentStatus,
} from './store.ts';

/** The seed of replicate k: the same in every experiment, so dependents see the same subsets. */
export function replicateSeed(baseSeed: number, k: number): number {
  return deriveSeed(baseSeed, 'replicate', k);
}

export type RunEvent =
  | { type: 'plan'; plan: Plan; spec: PipelineSpec; runId: number }
  | { type: 'recovered'; attempts: number; runs: number[]; adopted: number; collected: number }
  | { type: 'submitted'; id: string; replicate: number; executor: ExecutorName; jobId: string; adopted: boolean }
  | {
      type: 'skip';
      id: string;
      status: ExperimentStatus;
      reason: string | null;
      source: 'cache' | 'import' | null;
      note: string | null;
    }
  | { type: 'blocked'; id: string; reason: string }
  | {
      type: 'start';
      id: string;
      replicate: number;
      replicates: number;
      try: number;
      index: number;
      count: number;
      expectedMs: number | null;
      remainingMs: number | null;
      logPath: string;
    }
  | { type: 'progress'; id: string; replicate: number; label: string; done: number; total: number }
  | {
      type: 'end';
      id: string;
      replicate: number;
      status: AttemptStatus;
      durationMs: number;
      error: string | null;
      willRetry: boolean;
    }
  | { type: 'experiment'; id: string; status: ExperimentStatus; reason: string | null }
  | { type: 'done'; summary: RunSummary };

export interface RunSummary {
  runId: number;
  status: 'passed' | 'failed' | 'interrupted';
  ran: string[];
  reused: string[];
  passed: string[];
  failed: string[];
  blocked: string[];
  pending: string[];
  interrupted: string[];
  elapsedMs: number;
  exitCode: number; // 0: every selected experiment passed; 1: some did not; 130: interrupted
}

export interface RunOptions {
  spec: PipelineSpec;
  registry: KindRegistry;
  runDir: string;
  selection?: Selection;
  failFast?: boolean;
  /** Aborting it (Ctrl-C) stops the child and records the attempt as interrupted. */
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** Recorded with the run (the command line options, for provenance). */
  options?: unknown;
  /** Where replicates run (default: local child processes). */
  executor?: Executor;
  /** Replicates run at once, dependencies permitting (default 1: one after another). */
  jobs?: number;
  /** Slurm resources from the command line (--slurm-opt), over the pipeline's and the experiment's. */
  slurm?: SlurmResources;
  /** Give kinds the run folder's score cache (KindContext.scoreCacheDir); default true. */
  scoreCache?: boolean;
  /**
   * Cores of each replicate with the local executor (KindContext.cpus), the same for every replicate
   * of the run: onnxruntime's thread count can change a model's scores in the last bits (it is part of
   * the score cache's key), so a replicate that happens to run alone keeps its share. Default null:
   * every core.
   */
  cpusPerJob?: number | null;
  /**
   * Lend free slots to running replicates of kinds with `helpers: true` when nothing with a path as
   * long is ready (lanes.ts; local executor, jobs ≥ 2, score cache on). Default true; the results are
   * the same either way.
   */
  helpers?: boolean;
}

export interface ResolvedInputs extends FingerprintInputs {
  models: Record<string, ResolvedModel>;
}

/** Resolves model aliases (content hashes, or a problem when a checkpoint is missing) and the data hash. */
export function resolveInputs(spec: PipelineSpec, store: Store | null): ResolvedInputs {
  const cache = store?.hashCache();
  const used = new Set(spec.experiments.flatMap((e) => e.models));
  const modelHashes: Record<string, string | null> = {};
  const modelProblems: Record<string, string> = {};
  const models: Record<string, ResolvedModel> = {};
  for (const m of Object.values(spec.models)) {
    if (!used.has(m.alias)) continue;
    if (m.problem) {
      modelHashes[m.alias] = null;
      modelProblems[m.alias] = `model '${m.alias}': ${m.problem}`;
      continue;
    }
    if (!existsSync(m.path)) {
      modelHashes[m.alias] = null;
      modelProblems[m.alias] =
        `model '${m.alias}' has no checkpoint at ${m.path}: put a Hugging Face checkpoint folder there or pass --model ${m.alias}=DIR`;
      continue;
    }
    // A resolver's identity (a hub commit and its blob hashes) stands for the content without rereading it.
    const h = m.identity ?? contentHash(m.path, cache);
    modelHashes[m.alias] = h;
    models[m.alias] = { alias: m.alias, path: m.path, hash: h };
  }
  const corpusPath = typeof spec.corpus.path === 'string' ? spec.corpus.path : null;
  if (corpusPath !== null && !existsSync(corpusPath))
    throw new UserError(`corpus path ${corpusPath} does not exist; fix corpus.path in ${spec.file}`);
  const dataHash = sha256(
    canonicalJson({
      corpus: { ...spec.corpus, path: undefined },
      content: corpusPath ? contentHash(corpusPath, cache) : null,
    }),
  );
  return { version: VERSION, dataHash, modelHashes, modelProblems, models };
}

/** The planner's view of a store (or of nothing, for a new run folder). */
export function storedResults(store: Store | null): StoredResults {
  if (!store) return { passingReplicates: () => new Set(), imported: () => null, pastDurationMs: () => null };
  return {
    passingReplicates: (id, fp) => new Set(store.passingAttempts(id, fp).keys()),
    imported: (id) => store.imported(id),
    pastDurationMs: (id) => store.pastDurationMs(id),
  };
}

/** How many replicates an imported result holds (scored as replicates 0 … n − 1), at least 1. */
export function importedReplicates(store: Store, id: string): number {
  return Math.max(1, store.imported(id)?.replicates ?? 1);
}

/**
 * Scores stored results: complete, key metrics finite (checked per attempt), replicates consistent
 * (the kind's rule, else defaultConsistency over its key metrics). Used for run, reused and imported
 * results alike. When the kind is unknown (results imported where no pipeline has run), the
 * consistency is defaultConsistency over every metric recorded finite in all replicates.
 */
export function scoreExperiment(
  store: Store,
  registry: KindRegistry | null,
  e: Pick<ExperimentSpec, 'id' | 'kind' | 'params'>,
  fingerprint: string,
  replicates: number,
): { status: 'passed' | 'failed'; reason: string | null; complete: boolean; consistency: ConsistencyResult | null } {
  const passing = store.passingAttempts(e.id, fingerprint);
  const missing = Array.from({ length: replicates }, (_, k) => k).filter((k) => !passing.has(k));
  if (missing.length > 0)
    return {
      status: 'failed',
      reason: `no passing result for replicate(s) ${missing.join(', ')}`,
      complete: false,
      consistency: null,
    };
  const reps = [...passing.values()]
    .filter((a) => a.replicate < replicates)
    .sort((a, b) => a.replicate - b.replicate)
    .map((a) => ({ replicate: a.replicate, metrics: store.metricsOfAttempts([a.id]) }));
  const kind = registry?.get(e.kind);
  const keys = kind ? keyMetricsOf(kind, e.params) : commonFiniteMetrics(reps);
  // Run attempts were checked as they ended; imported ones are checked here.
  for (const r of reps) {
    const problem = keyMetricProblem(keys, r.metrics);
    if (problem)
      return {
        status: 'failed',
        reason: `replicate ${r.replicate}${passing.get(r.replicate)?.source === 'import' ? ' (imported)' : ''}: ${problem}`,
        complete: true,
        consistency: null,
      };
  }
  const c = kind?.consistency ? kind.consistency(reps, e.params) : defaultConsistency(reps, keys);
  return {
    status: c.ok ? 'passed' : 'failed',
    reason: c.ok ? null : `inconsistent across replicates: ${c.detail}`,
    complete: true,
    consistency: c,
  };
}

/** Metric names recorded, and finite in every row, in every replicate: the key metrics of an unknown kind. */
function commonFiniteMetrics(reps: readonly { metrics: readonly MetricInput[] }[]): string[] {
  const names = (r: { metrics: readonly MetricInput[] }) => {
    const bad = new Set(r.metrics.filter((m) => !Number.isFinite(m.value)).map((m) => m.metric));
    return new Set(r.metrics.map((m) => m.metric).filter((m) => !bad.has(m)));
  };
  const sets = reps.map(names);
  return sets.length === 0 ? [] : [...sets[0]].filter((m) => sets.every((s) => s.has(m))).sort();
}

/** Checks an attempt's metrics: each key metric recorded and finite. Returns the problem, or null. */
export function keyMetricProblem(keys: readonly string[], metrics: readonly MetricInput[]): string | null {
  for (const k of keys) {
    const rows = metrics.filter((m) => m.metric === k);
    if (rows.length === 0) return `key metric '${k}' was not recorded`;
    const bad = rows.find((m) => !Number.isFinite(m.value));
    if (bad)
      return `key metric '${k}' is ${bad.value}${bad.model ? ` for model ${bad.model}` : ''}${bad.language ? ` language ${bad.language}` : ''}`;
  }
  return null;
}

/** Runs a pipeline into a run folder. Throws UserError if another orchestrator holds the folder. */
export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const { spec, registry, runDir } = opts;
  const emit = opts.onEvent ?? (() => {});
  const t0 = Date.now();
  const executor = opts.executor ?? new LocalExecutor();
  const slots = Math.max(1, Math.floor(opts.jobs ?? 1));
  let slurmForAdoption: Executor | null = executor.name === 'slurm' ? executor : null;
  ensureRunDir(runDir);
  const store = Store.open(runDir);
  try {
    for (const d of ['logs', 'artifacts', 'tmp', 'cache']) mkdirSync(join(runDir, d), { recursive: true });
    const runId = store.claimRun(
      {
        pipelineFile: spec.file,
        pipeline: spec,
        options: opts.options ?? null,
        toolVersion: VERSION,
        pid: process.pid,
      },
      isProcessAlive,
    );
    const byId = new Map(spec.experiments.map((e) => [e.id, e]));
    const scoreCache = opts.scoreCache !== false;
    const ctx: AttemptContext = {
      store,
      registry,
      spec,
      runDir,
      runId,
      emit,
      slurmCli: opts.slurm ?? {},
      scoreCache,
      cpusPerJob: opts.cpusPerJob ?? null,
    };

    // Jobs a killed orchestrator left behind: Slurm jobs still running are adopted (below, when their
    // replicate's turn comes), finished ones have their results taken now, so that the plan counts them.
    const stale = store.staleRuns(isProcessAlive).map((r) => r.id);
    const adoptable = new Map<string, Adopted>(); // by adoptKey(experiment, fingerprint, replicate)
    if (stale.length > 0) {
      let collected = 0;
      for (const a of store.runningAttempts(stale)) {
        const e = byId.get(a.experiment);
        if (a.executor !== 'slurm' || !a.jobId || !a.jobFile || !e) continue;
        slurmForAdoption ??= new SlurmExecutor();
        const job = jobRequestOf(ctx, e, a.replicate, join(runDir, a.jobFile.replace(/\.job\.json$/, '')));
        const onProgress = progressEmitter(emit, e.id, a.replicate);
        const attempt = {
          e,
          k: a.replicate,
          attemptId: a.id,
          try: a.try,
          job,
          jobId: a.jobId,
          executor: slurmForAdoption,
          startedMs: Date.parse(a.startedAt),
        };
        if (!(await slurmForAdoption.adopt(a.jobId, job, onProgress))) {
          // Slurm no longer knows the job: a result file it left still counts; without one it is lost.
          const result = readResult(job.resultFile);
          if (result) {
            await finishAttempt(
              ctx,
              attempt,
              { exitCode: result.ok ? 0 : 1, signal: null, startError: null, slurm: null },
              { timedOut: false, stopped: false, killed: false },
            );
            collected++;
          }
          continue;
        }
        const st = await slurmForAdoption.poll(a.jobId);
        if (st.phase === 'ended') {
          // Finished while nobody watched: its result is taken as if the orchestrator had waited.
          await finishAttempt(ctx, attempt, st.end, { timedOut: false, stopped: false, killed: false });
          collected++;
        } else {
          adoptable.set(adoptKey(e.id, a.fingerprint, a.replicate), {
            attempt: a,
            job,
            executor: slurmForAdoption,
            onProgress,
          });
        }
      }
      const n = store.recoverStale(
        stale,
        'the orchestrator stopped (killed?) while this was running',
        [...adoptable.values()].map((x) => x.attempt.id),
      );
      emit({ type: 'recovered', attempts: n, runs: stale, adopted: adoptable.size, collected });
    }

    let inputs: ResolvedInputs;
    let plan: Plan;
    try {
      inputs = resolveInputs(spec, store);
      plan = planPipeline(spec, inputs, storedResults(store), opts.selection ?? {});
    } catch (e) {
      // e.g. a missing corpus.path: the run ends before any experiment, leaving no 'running' row behind.
      await dropAdoptable(ctx, adoptable, 'not adopted: the run stopped before it started');
      store.endRun(runId, 'failed', JSON.stringify({ error: (e as Error).message }));
      throw e;
    }
    ctx.inputs = inputs;
    ctx.plan = plan;
    const maxReps = Math.max(...spec.experiments.map((e) => e.replicates));
    store.setProvenance(
      runId,
      collectProvenance({
        seed: spec.seed,
        replicate_seeds: Array.from({ length: maxReps }, (_, k) => replicateSeed(spec.seed, k)),
        pipeline_file: spec.file,
        pipeline_sha256: spec.file && existsSync(spec.file) ? hashFile(spec.file) : null,
        models: Object.fromEntries(
          Object.values(spec.models).map((m) => [
            m.alias,
            { path: m.path, hash: inputs.modelHashes[m.alias] ?? null, overridden: m.overridden },
          ]),
        ),
        data_hash: inputs.dataHash,
        kind_modules: registry.modules,
        options: opts.options ?? null,
      }),
    );
    emit({ type: 'plan', plan, spec, runId });
    // A left-over job whose replicate this plan does not run (inputs changed, not selected) is cancelled.
    for (const [key, x] of adoptable) {
      const entry = plan.entries.get(x.attempt.experiment);
      if (
        entry &&
        entry.selected &&
        !entry.blocked &&
        entry.fingerprint === x.attempt.fingerprint &&
        entry.toRun.includes(x.attempt.replicate)
      )
        continue;
      await dropAdoptable(
        ctx,
        new Map([[key, x]]),
        'cancelled: this run does not need it (its inputs changed, or it was not selected)',
      );
      adoptable.delete(key);
    }

    const state = new Map<string, { status: ExperimentStatus; reason: string | null }>();
    const summary: RunSummary = {
      runId,
      status: 'passed',
      ran: [],
      reused: [],
      passed: [],
      failed: [],
      blocked: [],
      pending: [],
      interrupted: [],
      elapsedMs: 0,
      exitCode: 0,
    };
    const toRunTotal = plan.order.filter(
      (id) =>
        plan.entries.get(id)!.selected && plan.entries.get(id)!.toRun.length > 0 && !plan.entries.get(id)!.blocked,
    ).length;
    let index = 0;
    let stopReason: string | null = null;
    let interrupted = false;

    const setState = (
      e: ExperimentSpec,
      entry: PlanEntry,
      status: ExperimentStatus,
      reason: string | null,
      extra: {
        source?: 'run' | 'cache' | 'import' | null;
        complete?: boolean;
        consistency?: ConsistencyResult | null;
        sourceRun?: number | null;
      } = {},
    ) => {
      state.set(e.id, { status, reason });
      store.setExperiment({
        id: e.id,
        kind: e.kind,
        phase: e.phase,
        question: e.question,
        fingerprint: entry.fingerprint,
        replicates: e.replicates,
        status,
        reason,
        source: extra.source ?? null,
        sourceRun: extra.sourceRun ?? (extra.source === 'run' ? runId : null),
        note: entry.importNote,
        complete: extra.complete ?? false,
        consistency: extra.consistency ?? null,
        runId,
      });
      emit({ type: 'experiment', id: e.id, status, reason });
    };

    /**
     * Applies the decision (decide.ts) for an experiment whose dependencies are settled: returns it to run, or settles
     * it now.
     */
    const decide = (id: string): Active | 'wait' | null => {
      const e = byId.get(id)!;
      const entry = plan.entries.get(id)!;
      const prev = store.experiment(id);
      const d = decideExperiment({ experiment: e, entry, states: state, stored: prev, stopReason });
      switch (d.action) {
        case 'wait':
          return 'wait';
        case 'keep': {
          // Scored as when selected (reuse), so that a stored state without a consistency record (an
          // import scored where no pipeline was known, or none at all) gets its kind's verdict, and
          // dependents see the same status either way. Rewritten only when the verdict changed.
          const fp = entry.fingerprint!;
          const sc = scoreExperiment(
            store,
            registry,
            e,
            fp,
            entry.resultSource === 'import' ? importedReplicates(store, id) : e.replicates,
          );
          const same =
            prev !== null &&
            prev.fingerprint === fp &&
            prev.status === sc.status &&
            prev.reason === sc.reason &&
            prev.complete === sc.complete &&
            JSON.stringify(prev.consistency) === JSON.stringify(sc.consistency);
          if (!same) {
            setState(e, entry, sc.status, sc.reason, {
              source: d.source,
              complete: sc.complete,
              consistency: sc.consistency,
              sourceRun: [...store.passingAttempts(id, fp).values()][0]?.runId ?? null,
            });
          }
          state.set(id, { status: sc.status, reason: sc.reason });
          return null;
        }
        case 'hold':
          if (d.record) setState(e, entry, 'pending', d.reason);
          state.set(id, { status: d.status, reason: d.reason });
          return null;
        case 'block':
          setState(e, entry, 'blocked', d.reason);
          summary.blocked.push(id);
          emit({ type: 'blocked', id, reason: d.reason });
          return null;
        case 'pend':
          setState(e, entry, 'pending', d.reason);
          summary.pending.push(id);
          return null;
        case 'reuse': {
          const fp = entry.fingerprint!;
          const sc = scoreExperiment(
            store,
            registry,
            e,
            fp,
            entry.resultSource === 'import' ? importedReplicates(store, id) : e.replicates,
          );
          const firstRun = [...store.passingAttempts(id, fp).values()][0]?.runId ?? null;
          setState(e, entry, sc.status, sc.reason, {
            source: d.source,
            complete: sc.complete,
            consistency: sc.consistency,
            sourceRun: firstRun,
          });
          (sc.status === 'passed' ? summary.passed : summary.failed).push(id);
          summary.reused.push(id);
          emit({ type: 'skip', id, status: sc.status, reason: sc.reason, source: d.source, note: entry.importNote });
          return null;
        }
        case 'run':
          // The replicates that are missing (or all, when forced), started as slots free up.
          return {
            e,
            entry,
            fp: entry.fingerprint!,
            order: plan.order.indexOf(id),
            index: 0,
            queue: d.replicates.map((k) => ({ k, attempt: 1 })),
            inFlight: 0,
            started: false,
            stop: false,
            failure: null,
            interrupted: null,
          };
      }
    };

    /** Settles an experiment once its last replicate in flight has ended. */
    const settle = (a: Active) => {
      const { e, entry, fp } = a;
      if (a.interrupted !== null) {
        setState(e, entry, 'interrupted', a.interrupted, { source: 'run' });
        summary.interrupted.push(e.id);
      } else if (a.failure) {
        setState(e, entry, 'failed', a.failure, { source: 'run', complete: false });
        summary.failed.push(e.id);
        if (opts.failFast) stopReason ??= `not run: --fail-fast stopped after ${e.id} failed`;
      } else {
        const sc = scoreExperiment(store, registry, e, fp, e.replicates);
        setState(e, entry, sc.status, sc.reason, {
          source: 'run',
          complete: sc.complete,
          consistency: sc.consistency,
          sourceRun: runId,
        });
        (sc.status === 'passed' ? summary.passed : summary.failed).push(e.id);
        if (sc.status === 'failed' && opts.failFast) stopReason ??= `not run: --fail-fast stopped after ${e.id} failed`;
      }
    };

    // The scheduler: experiments are decided in plan order once their dependencies are settled; up to
    // `slots` replicates run at once. With one slot this is the sequential order: each experiment's
    // replicates in turn, then the next experiment in plan order. With more, the ready experiment with
    // the longest expected path to the end of the run goes first (priority.ts), plan order breaking ties.
    const waiting = [...plan.order];
    const pathMs = criticalPathMs(plan);
    const before = (x: Active, y: Active) =>
      slots > 1 ? pathMs.get(y.e.id)! - pathMs.get(x.e.id)! || x.order - y.order : x.order - y.order;
    const active: Active[] = [];
    const inFlight = new Set<Promise<void>>();
    // Replicates in flight that may be lent a free slot (lanes.ts), by `<id>.r<k>`; `wake` ends the
    // scheduler's wait when one is submitted (it may take the other slot at once). Without the shared
    // caches a helper would only repeat its replicate's work.
    const helpersOn = opts.helpers !== false && scoreCache && executor.name === 'local' && slots > 1;
    const helpable = new Map<string, Helpable>();
    let wake: () => void = () => {};
    /** Starts helpers, highest priority first, for replicates with a priority above `above`, while slots are free. */
    const lend = (above: number) => {
      for (let h = pickHelped(helpable.values(), above); h && inFlight.size < slots;) {
        const x = h;
        const helper = runHelper(executor, x, runDir);
        x.helper = helper;
        const p = helper.done.then(() => {
          x.helper = null;
          // One that ran to its end is not started again; one stopped for other work may be.
          if (!helper.stopping) x.helped = true;
        });
        inFlight.add(p);
        p.finally(() => inFlight.delete(p)).catch(() => {});
        h = pickHelped(helpable.values(), above);
      }
    };
    const settled = (d: string) => isSettled(state.get(d));
    for (;;) {
      // Settle the experiments with nothing left to run or wait for (first: a failure must set
      // --fail-fast's stop before anything else starts).
      for (let i = 0; i < active.length;) {
        const a = active[i];
        const done = a.inFlight === 0 && (a.stop || a.queue.length === 0 || interrupted);
        if (!done || (!a.started && a.queue.length > 0 && !a.stop)) {
          i++;
          continue;
        }
        active.splice(i, 1);
        if (a.started) settle(a);
      }
      if (!interrupted) {
        for (let i = 0; i < waiting.length;) {
          const a = decide(waiting[i]);
          if (a === 'wait') {
            i++;
            continue;
          }
          waiting.splice(i, 1);
          if (a) active.push(a);
        }
      }
      active.sort(before);
      for (const a of active) {
        if (interrupted || inFlight.size >= slots) break;
        if (!a.started && stopReason) {
          setState(a.e, a.entry, 'pending', stopReason);
          summary.pending.push(a.e.id);
          a.stop = true;
          a.queue = [];
          continue;
        }
        // A running replicate on a longer path than this experiment's gets a helper first.
        if (helpersOn && !stopReason && !a.stop && a.queue.length > 0 && !opts.signal?.aborted)
          lend(pathMs.get(a.e.id)!);
        while (!a.stop && a.queue.length > 0 && inFlight.size < slots && !interrupted && !opts.signal?.aborted) {
          if (!a.started) {
            a.started = true;
            a.index = ++index;
            summary.ran.push(a.e.id);
            setState(a.e, a.entry, 'running', null, { source: 'run' });
          }
          const t = a.queue.shift()!;
          const adopted = adoptable.get(adoptKey(a.e.id, a.fp, t.k)) ?? null;
          if (adopted) adoptable.delete(adoptKey(a.e.id, a.fp, t.k));
          a.inFlight++;
          const name = `${a.e.id}.r${t.k}`;
          const priority = pathMs.get(a.e.id)!;
          const onSubmitted =
            helpersOn && registry.get(a.e.kind)?.helpers
              ? (request: JobRequest, job: ChildJob) => {
                  helpable.set(name, { name, priority, job, request, helper: null, helped: false });
                  wake();
                }
              : undefined;
          const p: Promise<void> = runAttempt(ctx, {
            e: a.e,
            entry: a.entry,
            fp: a.fp,
            k: t.k,
            attempt: adopted?.attempt.try ?? t.attempt,
            index: a.index,
            count: toRunTotal,
            signal: opts.signal,
            executor,
            adopted,
            onSubmitted,
          }).then((r) => {
            a.inFlight--;
            helpable.get(name)?.helper?.stop('its replicate ended');
            helpable.delete(name);
            if (r.status === 'passed') return;
            const tryNo = adopted?.attempt.try ?? t.attempt;
            if (r.status === 'interrupted') {
              // Ctrl-C stops the whole run; a job cancelled outside langquant stops only its experiment.
              if (r.stopsRun) interrupted = true;
              a.interrupted ??= r.error ?? 'interrupted';
              a.stop = true;
            } else if (r.retryable && tryNo < 1 + a.e.retries) {
              a.queue.unshift({ k: t.k, attempt: tryNo + 1 });
            } else {
              a.failure ??= `replicate ${t.k}: ${r.error}`;
              a.stop = true; // the experiment has failed: its other replicates are not started
            }
          });
          inFlight.add(p);
          // A failure inside runAttempt (a bug, a full disk) reaches the caller through the race below.
          p.finally(() => inFlight.delete(p)).catch(() => {});
        }
      }
      if (helpersOn) {
        if (interrupted || opts.signal?.aborted || stopReason !== null)
          for (const h of helpable.values()) h.helper?.stop('the run is stopping');
        else {
          // Ready work still waiting (every slot taken) takes the slots of helpers with a shorter path,
          // as many as wait beyond those already dying; with nothing waiting, free slots go to helpers.
          const waitingWork = active.filter((a) => !a.stop && a.queue.length > 0);
          if (waitingWork.length === 0) lend(-Infinity);
          else {
            const best = Math.max(...waitingWork.map((a) => pathMs.get(a.e.id)!));
            const ready = waitingWork.reduce((n, a) => n + a.queue.length, 0);
            let dying = [...helpable.values()].filter((h) => h.helper?.stopping).length;
            for (let h = helperToPreempt(helpable.values(), best); h && ready > dying;) {
              h.helper!.stop('ready work on a path at least as long needs the slot');
              dying++;
              h = helperToPreempt(helpable.values(), best);
            }
          }
        }
      }
      if (inFlight.size === 0) {
        if (
          interrupted ||
          opts.signal?.aborted ||
          (active.length === 0 &&
            (waiting.length === 0 || !waiting.some((id) => byId.get(id)!.dependsOn.every(settled))))
        )
          break;
        continue;
      }
      await Promise.race([...inFlight, new Promise<void>((r) => (wake = r))]);
    }
    if (opts.signal?.aborted) interrupted = true;
    await dropAdoptable(
      ctx,
      adoptable,
      interrupted ? 'cancelled: the run was stopped (Ctrl-C)' : 'cancelled: this run did not need it',
    );
    if (interrupted) {
      // Leave the rest as they were; they are pending for this run.
      for (const id of plan.order) if (!state.has(id) && plan.entries.get(id)!.selected) summary.pending.push(id);
    }
    summary.status = interrupted
      ? 'interrupted'
      : summary.failed.length + summary.blocked.length + summary.pending.length > 0
        ? 'failed'
        : 'passed';
    summary.exitCode = interrupted ? 130 : summary.status === 'passed' ? 0 : 1;
    summary.elapsedMs = Date.now() - t0;
    store.endRun(
      runId,
      summary.status,
      JSON.stringify({
        ran: summary.ran,
        reused: summary.reused,
        passed: summary.passed.length,
        failed: summary.failed,
        blocked: summary.blocked,
        pending: summary.pending,
      }),
    );
    emit({ type: 'done', summary });
    return summary;
  } finally {
    await executor.close?.();
    store.close();
  }
}

/** An experiment being run: its replicates still to start, in flight, and how it is going. */
interface Active {
  e: ExperimentSpec;
  entry: PlanEntry;
  fp: string;
  order: number; // position in the plan
  index: number; // 1-based among the experiments this run started
  queue: { k: number; attempt: number }[];
  inFlight: number;
  started: boolean;
  stop: boolean; // start no more replicates
  failure: string | null;
  interrupted: string | null;
}

/** A job of a killed orchestrator still running under Slurm, waiting for its replicate's turn. */
interface Adopted {
  attempt: AttemptRow;
  job: JobRequest;
  executor: Executor;
  onProgress: (p: { label: string; done: number; total: number }) => void;
}

const adoptKey = (id: string, fp: string, k: number) => `${id}\u0000${fp}\u0000${k}`;

/** What every attempt of a run shares. `inputs` and `plan` are set once planned. */
interface AttemptContext {
  store: Store;
  registry: KindRegistry;
  spec: PipelineSpec;
  runDir: string;
  runId: number;
  emit: (e: RunEvent) => void;
  slurmCli: SlurmResources;
  scoreCache: boolean;
  /** RunOptions.cpusPerJob. */
  cpusPerJob: number | null;
  inputs?: ResolvedInputs;
  plan?: Plan;
}

/** The files of one attempt (`base` is RUNDIR/tmp/<id>.r<k>.a<attempt id>) and its limits. */
function jobRequestOf(ctx: AttemptContext, e: ExperimentSpec, k: number, base: string): JobRequest {
  const name = `${e.id}.r${k}`;
  return {
    name,
    jobFile: `${base}.job.json`,
    resultFile: `${base}.result.json`,
    progressFile: `${base}.progress.json`,
    logFile: join(ctx.runDir, 'logs', `${name}.log`),
    cwd: ctx.spec.dir,
    timeoutMs: e.timeoutMs,
    killGraceMs: ctx.spec.killGraceMs,
    slurm: mergeSlurm(e.slurm, ctx.slurmCli),
  };
}

function progressEmitter(emit: (e: RunEvent) => void, id: string, k: number) {
  return (p: { label: string; done: number; total: number }) =>
    emit({ type: 'progress', id, replicate: k, label: p.label, done: p.done, total: p.total });
}

/** Cancels left-over jobs nobody will wait for and records them as interrupted. */
async function dropAdoptable(ctx: AttemptContext, adoptable: Map<string, Adopted>, reason: string): Promise<void> {
  for (const x of adoptable.values()) {
    await x.executor.cancel(x.attempt.jobId!, 'term');
    x.executor.release(x.attempt.jobId!);
    ctx.store.finishAttempt(x.attempt.id, {
      status: 'interrupted',
      durationMs: Date.now() - Date.parse(x.attempt.startedAt),
      exitCode: null,
      signal: null,
      error: reason,
    });
    ctx.store.setJobState(x.attempt.id, 'CANCELLED');
  }
  adoptable.clear();
}

/** The current results of a dependency, for the job file (a job never opens the store). */
function dependencySnapshot(store: Store, id: string, fp: string): DependencySnapshot {
  const first = [...store.passingAttempts(id, fp).values()][0];
  return {
    id,
    fingerprint: fp,
    source: first?.source ?? 'run',
    note: first?.note ?? null,
    metrics: store.metrics(id, fp).map((m) => ({
      replicate: m.replicate,
      model: m.model,
      language: m.language,
      metric: m.metric,
      value: encodeNumber(m.value),
      source: m.source,
    })),
    artifacts: store.artifacts(id, fp),
  };
}

interface AttemptArgs {
  e: ExperimentSpec;
  entry: PlanEntry;
  fp: string;
  k: number;
  attempt: number;
  index: number;
  count: number;
  signal?: AbortSignal;
  executor: Executor;
  adopted: Adopted | null;
  /** Called once a fresh job is submitted, with its request and job file (for a helper lane). */
  onSubmitted?: (request: JobRequest, job: ChildJob) => void;
}

interface AttemptOutcome {
  status: AttemptStatus;
  error: string | null;
  retryable: boolean;
  /** An interruption that stops the run (Ctrl-C), not one job cancelled outside langquant. */
  stopsRun: boolean;
}

/**
 * One replicate as one job of the executor (or a left-over job adopted), with its timeout enforced
 * here: at the deadline the job is asked to stop and, `killGrace` later, killed. The outcome is
 * stored in one transaction.
 */
async function runAttempt(ctx: AttemptContext, a: AttemptArgs): Promise<AttemptOutcome> {
  const { store, runDir, spec } = ctx;
  const { e, k } = a;
  let attemptId: number;
  let job: JobRequest;
  let executor = a.executor;
  let jobId: string | null = null;
  let startError: string | null = null;
  let startedMs: number;
  if (a.adopted) {
    attemptId = a.adopted.attempt.id;
    job = a.adopted.job;
    executor = a.adopted.executor;
    jobId = a.adopted.attempt.jobId!;
    startedMs = Date.parse(a.adopted.attempt.startedAt);
    store.db.prepare(`UPDATE attempts SET run_id = ? WHERE id = ?`).run(ctx.runId, attemptId); // now this run's
    appendLog(
      job.logFile,
      `==== adopted by run ${ctx.runId} (pid ${process.pid}): ${executor.name} job ${jobId} was still ${a.adopted.attempt.jobState ?? 'running'}, ${new Date().toISOString()}\n`,
    );
    ctx.emit({
      type: 'start',
      id: e.id,
      replicate: k,
      replicates: e.replicates,
      try: a.attempt,
      index: a.index,
      count: a.count,
      expectedMs: a.entry.expectedMs,
      remainingMs: ctx.plan!.totalMs,
      logPath: job.logFile,
    });
    ctx.emit({ type: 'submitted', id: e.id, replicate: k, executor: executor.name, jobId, adopted: true });
  } else {
    const workDir = join(runDir, 'artifacts', e.id, `r${k}`);
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const seed = replicateSeed(spec.seed, k);
    const logPath = join(runDir, 'logs', `${e.id}.r${k}.log`);
    attemptId = store.startAttempt({
      runId: ctx.runId,
      experiment: e.id,
      fingerprint: a.fp,
      replicate: k,
      try: a.attempt,
      seed,
      logPath: relative(runDir, logPath),
    });
    job = jobRequestOf(ctx, e, k, join(runDir, 'tmp', `${e.id}.r${k}.a${attemptId}`));
    const models: Record<string, ResolvedModel> = {};
    for (const alias of e.models) models[alias] = ctx.inputs!.models[alias];
    const childJob: ChildJob = {
      // Only the module that defines this kind: loading every kinds module in every child costs time.
      modules:
        ctx.registry.moduleOf(e.kind) !== undefined ? [ctx.registry.moduleOf(e.kind)!] : [...ctx.registry.modules],
      experiment: {
        id: e.id,
        kind: e.kind,
        phase: e.phase,
        question: e.question,
        title: e.title,
        dependsOn: [...e.dependsOn],
        params: e.params,
      },
      replicate: k,
      replicates: e.replicates,
      seed,
      baseSeed: spec.seed,
      models,
      corpus: spec.corpus,
      groups: spec.corpus.groups,
      pipelineDir: spec.dir,
      runDir,
      workDir,
      cacheDir: join(runDir, 'cache'),
      scoreCacheDir: ctx.scoreCache ? join(runDir, 'cache', 'scores') : null,
      // a Slurm job's cores are its allocation (--slurm-opt cpus=N), seen by the job itself
      cpus: executor.name === 'local' ? ctx.cpusPerJob : null,
      deps: e.dependsOn.map((d) => dependencySnapshot(store, d, ctx.plan!.entries.get(d)!.fingerprint!)),
      resultPath: job.resultFile,
      progressPath: executor.name === 'local' ? null : job.progressFile,
    };
    rmSync(job.resultFile, { force: true });
    writeFileSync(job.jobFile, JSON.stringify(childJob, null, 1));
    appendLog(
      job.logFile,
      `==== ${e.id} (${e.kind}) replicate ${k}, attempt ${a.attempt}, seed ${seed}, fingerprint ${a.fp.slice(0, 16)}, ${executor.name} executor, started ${new Date().toISOString()}\n`,
    );
    ctx.emit({
      type: 'start',
      id: e.id,
      replicate: k,
      replicates: e.replicates,
      try: a.attempt,
      index: a.index,
      count: a.count,
      expectedMs: a.entry.expectedMs,
      remainingMs: ctx.plan!.totalMs,
      logPath: job.logFile,
    });
    startedMs = Date.now();
    try {
      jobId = await executor.submit(job, progressEmitter(ctx.emit, e.id, k));
      store.setAttemptJob(attemptId, {
        executor: executor.name,
        jobId,
        jobState: executor.name === 'local' ? 'RUNNING' : 'SUBMITTED',
        jobFile: relative(runDir, job.jobFile),
      });
      if (executor.name !== 'local')
        ctx.emit({ type: 'submitted', id: e.id, replicate: k, executor: executor.name, jobId, adopted: false });
      a.onSubmitted?.(job, childJob);
    } catch (err) {
      startError = (err as Error).message;
    }
  }

  // Watch the job: its deadline counts from when the attempt started (for an adopted job, in the
  // orchestrator that submitted it).
  let timedOut = false;
  let stopped = false;
  let killed = false;
  let termAt = 0;
  let end: JobEnd;
  if (jobId === null) {
    end = { exitCode: null, signal: null, startError, slurm: null };
  } else {
    let lastState = a.adopted?.attempt.jobState ?? '';
    let abortWake: () => void = () => {};
    const onAbort = () => abortWake();
    a.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const st = await executor.poll(jobId);
        if (st.state !== lastState) {
          lastState = st.state;
          store.setJobState(attemptId, st.state);
        }
        if (st.phase === 'ended') {
          end = st.end;
          break;
        }
        if (st.phase === 'unknown') {
          end = {
            exitCode: null,
            signal: null,
            startError: null,
            slurm: { state: 'UNKNOWN', reason: `${executor.name} no longer knows job ${jobId}`, exitCode: null },
          };
          break;
        }
        const now = Date.now();
        if (!termAt && a.signal?.aborted) stopped = true;
        if (!termAt && now - startedMs >= e.timeoutMs) timedOut = true;
        if (!termAt && (stopped || timedOut)) {
          termAt = now;
          await executor.cancel(jobId, 'term');
        } else if (termAt && !killed && now - termAt >= spec.killGraceMs) {
          killed = true;
          await executor.cancel(jobId, 'kill');
        } else if (killed && (st.phase === 'stopping' || now - termAt >= spec.killGraceMs + 5000)) {
          // Killed and dying (Slurm keeps a job COMPLETING for its KillWait): it will not write a result.
          end = { exitCode: null, signal: 'SIGKILL', startError: null, slurm: null };
          break;
        }
        const delay = termAt
          ? 100
          : Math.min(executor.pollDelayMs(now - startedMs), Math.max(10, startedMs + e.timeoutMs - now));
        await Promise.race([executor.wait(jobId, delay), new Promise<void>((r) => (abortWake = r))]);
      }
    } finally {
      a.signal?.removeEventListener('abort', onAbort);
    }
  }
  return finishAttempt(ctx, { e, k, attemptId, try: a.attempt, job, jobId, executor, startedMs }, end, {
    timedOut,
    stopped,
    killed,
  });
}

/** Reads a job's result, decides the attempt's status, stores it with its metrics, cleans up. */
async function finishAttempt(
  ctx: AttemptContext,
  x: {
    e: ExperimentSpec;
    k: number;
    attemptId: number;
    try: number;
    job: JobRequest;
    jobId: string | null;
    executor: Executor;
    startedMs: number;
  },
  end: JobEnd,
  how: { timedOut: boolean; stopped: boolean; killed: boolean },
): Promise<AttemptOutcome> {
  const { store, runDir, spec } = ctx;
  const { e, job } = x;
  let result = readResult(job.resultFile);
  // A result written on another machine may show here a little later (network filesystems).
  for (
    const t = Date.now();
    !result && end.exitCode === 0 && !how.timedOut && !how.stopped && Date.now() - t < x.executor.resultLagMs;
  ) {
    await new Promise((r) => setTimeout(r, 250));
    result = readResult(job.resultFile);
  }
  const durationMs = Date.now() - x.startedMs;
  const v = judgeAttempt({
    end,
    result,
    timedOut: how.timedOut,
    stopped: how.stopped,
    timeoutMs: e.timeoutMs,
    killGraceMs: spec.killGraceMs,
    lastLogLine: lastLogLine(job.logFile),
  });
  let { status, error, retryable } = v;
  let metrics: MetricInput[] = [];
  let artifacts: { path: string; sha256: string; bytes: number }[] = [];
  if (status === 'passed' && result?.ok) {
    metrics = result.metrics.map((m) => ({
      metric: m.metric,
      value: decodeNumber(m.value),
      model: m.model,
      language: m.language,
    }));
    const kind = ctx.registry.get(e.kind);
    const problem = kind ? keyMetricProblem(keyMetricsOf(kind, e.params), metrics) : null;
    try {
      artifacts = result.artifacts.map((p) => {
        if (!existsSync(p)) throw new Error(`artifact ${p} does not exist`);
        return { path: relative(runDir, p), sha256: hashFile(p), bytes: statSync(p).size };
      });
    } catch (err) {
      status = 'failed';
      error = (err as Error).message;
    }
    if (problem) {
      // Deterministic for a given seed: retrying would give the same numbers.
      status = 'failed';
      error = problem;
      retryable = false;
    }
  }
  appendLog(
    job.logFile,
    `==== ${status}${error ? `: ${error}` : ''} after ${formatDuration(durationMs)}${end.slurm ? ` (Slurm: ${end.slurm.state}${end.slurm.reason ? `, ${end.slurm.reason}` : ''}${end.slurm.exitCode ? `, ExitCode ${end.slurm.exitCode}` : ''})` : ''}\n`,
  );
  store.finishAttempt(
    x.attemptId,
    { status, durationMs, exitCode: end.exitCode, signal: end.signal, error },
    metrics,
    artifacts,
  );
  if (x.jobId !== null) {
    if (end.slurm) store.setJobState(x.attemptId, end.slurm.state);
    else if (x.executor.name === 'local') store.setJobState(x.attemptId, 'EXITED');
    x.executor.release(x.jobId);
  }
  for (const f of [job.jobFile, job.resultFile, job.progressFile, job.jobFile.replace(/\.json$/, '') + '.sbatch'])
    rmSync(f, { force: true });
  const willRetry = status !== 'passed' && status !== 'interrupted' && retryable && x.try <= e.retries;
  ctx.emit({ type: 'end', id: e.id, replicate: x.k, status, durationMs, error, willRetry });
  return { status, error, retryable, stopsRun: v.stopsRun };
}

/**
 * The status of an attempt from how its job ended, whatever ran it (a pure function). Ctrl-C and
 * the orchestrator's own deadline come first; then Slurm's verdict where it is not the program's
 * (its time limit, a cancellation from outside, out of memory, a node failure); then the child's
 * result file and exit code, read the same way for both executors, so that a kind that crashes or
 * writes NaN gets the same status under either. `passed` still has its key metrics checked.
 */
export function judgeAttempt(x: {
  end: JobEnd;
  result: ChildResult | null;
  timedOut: boolean;
  stopped: boolean;
  timeoutMs: number;
  killGraceMs: number;
  lastLogLine: string | null;
}): AttemptOutcome {
  const { end, result } = x;
  const slurm = end.slurm;
  const slurmNote = slurm ? ` (Slurm: ${slurm.state}${slurm.reason ? `, ${slurm.reason}` : ''})` : '';
  if (x.stopped)
    return { status: 'interrupted', error: 'stopped by the user (Ctrl-C)', retryable: false, stopsRun: true };
  if (x.timedOut) {
    return {
      status: 'timeout',
      error: `timed out after ${formatDuration(x.timeoutMs)}${end.signal === 'SIGKILL' ? ` (killed: still running ${formatDuration(x.killGraceMs)} after SIGTERM)` : ''}`,
      retryable: true,
      stopsRun: false,
    };
  }
  if (end.startError)
    return {
      status: 'crashed',
      error: end.startError,
      retryable: !/^sbatch refused/.test(end.startError),
      stopsRun: false,
    };
  if (slurm?.state === 'TIMEOUT')
    return {
      status: 'timeout',
      error: `timed out: Slurm's time limit ended the job${slurmNote}`,
      retryable: true,
      stopsRun: false,
    };
  if (slurm?.state === 'CANCELLED')
    return {
      status: 'interrupted',
      error: `cancelled in Slurm, not by this run (scancel?)${slurmNote}`,
      retryable: false,
      stopsRun: false,
    };
  if (slurm && slurm.state !== 'COMPLETED' && slurm.state !== 'FAILED')
    return {
      status: 'failed',
      error: `the job ended ${slurm.state}${slurm.reason ? ` (${slurm.reason})` : ''}${x.lastLogLine ? `: ${x.lastLogLine}` : ''}`,
      retryable: true,
      stopsRun: false,
    };
  if (end.exitCode === 0 && result?.ok) return { status: 'passed', error: null, retryable: true, stopsRun: false };
  if (result && !result.ok)
    return { status: 'failed', error: result.error.split('\n')[0], retryable: !result.userError, stopsRun: false };
  if (end.exitCode === EXIT_NO_JOB_FILE && x.lastLogLine?.startsWith('langquant job:'))
    return { status: 'failed', error: x.lastLogLine, retryable: false, stopsRun: false };
  const how = end.signal
    ? `killed by ${end.signal}`
    : end.exitCode !== null
      ? `exited with code ${end.exitCode}`
      : 'ended';
  return {
    status: 'crashed',
    error: `${how} without a result${x.lastLogLine ? `: ${x.lastLogLine}` : ''}${slurmNote}`,
    retryable: true,
    stopsRun: false,
  };
}

function appendLog(path: string, text: string): void {
  appendFileSync(path, text);
}

function readResult(path: string): ChildResult | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ChildResult;
  } catch {
    return null;
  }
}

function lastLogLine(path: string): string | null {
  try {
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('===='));
    const l = lines.at(-1);
    return l ? l.trim().slice(0, 200) : null;
  } catch {
    return null;
  }
}
