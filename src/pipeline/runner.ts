// The runner (orchestrator): executes a plan one experiment at a time, each replicate in its own
// child process with a hard timeout (SIGTERM to the child's process group, SIGKILL after a grace
// period), its output captured to RUNDIR/logs/<id>.r<k>.log. A failed, timed-out or crashed
// experiment is recorded with its reason; its dependents are blocked naming the cause; independent
// experiments still run. Results are stored per attempt in one transaction, so a killed orchestrator
// loses at most the replicate in flight and a rerun continues from there.
// Reference: DVC's reproduce loop (skip dependents of failures), Snakemake's retries, DESIGN.md §6.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, readFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.ts';
import { deriveSeed } from '../util/rng.ts';
import { VERSION } from '../version.ts';
import { decodeNumber, type ChildJob, type ChildResult } from './protocol.ts';
import { formatDuration } from './duration.ts';
import { canonicalJson, contentHash, hashFile, sha256 } from './hash.ts';
import { defaultConsistency, keyMetricsOf, type ConsistencyResult, type KindRegistry, type MetricInput, type ResolvedModel } from './kind.ts';
import { planPipeline, type FingerprintInputs, type Plan, type PlanEntry, type Selection, type StoredResults } from './plan.ts';
import { collectProvenance } from './provenance.ts';
import type { ExperimentSpec, PipelineSpec } from './spec.ts';
import { Store, ensureRunDir, isProcessAlive, type AttemptStatus, type ExperimentStatus } from './store.ts';

// Compiled (dist/): the child is child.js itself. From the sources (tests, through tsx):
// child-entry.mjs, which registers the TypeScript loader and then imports child.ts.
const CHILD_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './child-entry.mjs' : './child.js', import.meta.url));

/** The seed of replicate k: the same in every experiment, so dependents see the same subsets. */
export function replicateSeed(baseSeed: number, k: number): number {
  return deriveSeed(baseSeed, 'replicate', k);
}

export type RunEvent =
  | { type: 'plan'; plan: Plan; spec: PipelineSpec; runId: number }
  | { type: 'recovered'; attempts: number; runs: number[] }
  | { type: 'skip'; id: string; status: ExperimentStatus; reason: string | null; source: 'cache' | 'import' | null; note: string | null }
  | { type: 'blocked'; id: string; reason: string }
  | { type: 'start'; id: string; replicate: number; replicates: number; try: number; index: number; count: number; expectedMs: number | null; remainingMs: number | null; logPath: string }
  | { type: 'progress'; id: string; replicate: number; label: string; done: number; total: number }
  | { type: 'end'; id: string; replicate: number; status: AttemptStatus; durationMs: number; error: string | null; willRetry: boolean }
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
    if (!existsSync(m.path)) {
      modelHashes[m.alias] = null;
      modelProblems[m.alias] = `model '${m.alias}' has no checkpoint at ${m.path}: put a Hugging Face checkpoint folder there or pass --model ${m.alias}=DIR`;
      continue;
    }
    const h = contentHash(m.path, cache);
    modelHashes[m.alias] = h;
    models[m.alias] = { alias: m.alias, path: m.path, hash: h };
  }
  const corpusPath = typeof spec.corpus.path === 'string' ? spec.corpus.path : null;
  if (corpusPath !== null && !existsSync(corpusPath)) throw new UserError(`corpus path ${corpusPath} does not exist; fix corpus.path in ${spec.file}`);
  const dataHash = sha256(canonicalJson({ corpus: { ...spec.corpus, path: undefined }, content: corpusPath ? contentHash(corpusPath, cache) : null }));
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
export function scoreExperiment(store: Store, registry: KindRegistry | null, e: Pick<ExperimentSpec, 'id' | 'kind' | 'params'>, fingerprint: string, replicates: number): { status: 'passed' | 'failed'; reason: string | null; complete: boolean; consistency: ConsistencyResult | null } {
  const passing = store.passingAttempts(e.id, fingerprint);
  const missing = Array.from({ length: replicates }, (_, k) => k).filter((k) => !passing.has(k));
  if (missing.length > 0) return { status: 'failed', reason: `no passing result for replicate(s) ${missing.join(', ')}`, complete: false, consistency: null };
  const reps = [...passing.values()]
    .filter((a) => a.replicate < replicates)
    .sort((a, b) => a.replicate - b.replicate)
    .map((a) => ({ replicate: a.replicate, metrics: store.metricsOfAttempts([a.id]) }));
  const kind = registry?.get(e.kind);
  const keys = kind ? keyMetricsOf(kind, e.params) : commonFiniteMetrics(reps);
  // Run attempts were checked as they ended; imported ones are checked here.
  for (const r of reps) {
    const problem = keyMetricProblem(keys, r.metrics);
    if (problem) return { status: 'failed', reason: `replicate ${r.replicate}${passing.get(r.replicate)?.source === 'import' ? ' (imported)' : ''}: ${problem}`, complete: true, consistency: null };
  }
  const c = kind?.consistency ? kind.consistency(reps, e.params) : defaultConsistency(reps, keys);
  return { status: c.ok ? 'passed' : 'failed', reason: c.ok ? null : `inconsistent across replicates: ${c.detail}`, complete: true, consistency: c };
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
    if (bad) return `key metric '${k}' is ${bad.value}${bad.model ? ` for model ${bad.model}` : ''}${bad.language ? ` language ${bad.language}` : ''}`;
  }
  return null;
}

/** Runs a pipeline into a run folder. Throws UserError if another orchestrator holds the folder. */
export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const { spec, registry, runDir } = opts;
  const emit = opts.onEvent ?? (() => {});
  const t0 = Date.now();
  ensureRunDir(runDir);
  const store = Store.open(runDir);
  try {
    for (const d of ['logs', 'artifacts', 'tmp', 'cache']) mkdirSync(join(runDir, d), { recursive: true });
    const runId = store.claimRun({ pipelineFile: spec.file, pipeline: spec, options: opts.options ?? null, toolVersion: VERSION, pid: process.pid }, isProcessAlive);
    const stale = store.staleRuns(isProcessAlive).map((r) => r.id);
    if (stale.length > 0) {
      const n = store.recoverStale(stale, 'the orchestrator stopped (killed?) while this was running');
      emit({ type: 'recovered', attempts: n, runs: stale });
    }

    let inputs: ResolvedInputs;
    let plan: Plan;
    try {
      inputs = resolveInputs(spec, store);
      plan = planPipeline(spec, inputs, storedResults(store), opts.selection ?? {});
    } catch (e) {
      // e.g. a missing corpus.path: the run ends before any experiment, leaving no 'running' row behind.
      store.endRun(runId, 'failed', JSON.stringify({ error: (e as Error).message }));
      throw e;
    }
    const maxReps = Math.max(...spec.experiments.map((e) => e.replicates));
    store.setProvenance(runId, collectProvenance({
      seed: spec.seed,
      replicate_seeds: Array.from({ length: maxReps }, (_, k) => replicateSeed(spec.seed, k)),
      pipeline_file: spec.file,
      pipeline_sha256: spec.file && existsSync(spec.file) ? hashFile(spec.file) : null,
      models: Object.fromEntries(Object.values(spec.models).map((m) => [m.alias, { path: m.path, hash: inputs.modelHashes[m.alias] ?? null, overridden: m.overridden }])),
      data_hash: inputs.dataHash,
      kind_modules: registry.modules,
      options: opts.options ?? null,
    }));
    emit({ type: 'plan', plan, spec, runId });

    const byId = new Map(spec.experiments.map((e) => [e.id, e]));
    const state = new Map<string, { status: ExperimentStatus; reason: string | null }>();
    const summary: RunSummary = { runId, status: 'passed', ran: [], reused: [], passed: [], failed: [], blocked: [], pending: [], interrupted: [], elapsedMs: 0, exitCode: 0 };
    const toRunTotal = plan.order.filter((id) => plan.entries.get(id)!.selected && plan.entries.get(id)!.toRun.length > 0 && !plan.entries.get(id)!.blocked).length;
    let index = 0;
    let stopReason: string | null = null;
    let interrupted = false;

    const setState = (e: ExperimentSpec, entry: PlanEntry, status: ExperimentStatus, reason: string | null, extra: { source?: 'run' | 'cache' | 'import' | null; complete?: boolean; consistency?: ConsistencyResult | null; sourceRun?: number | null } = {}) => {
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

    for (const id of plan.order) {
      const e = byId.get(id)!;
      const entry = plan.entries.get(id)!;
      if (!entry.selected) {
        // Not selected (--only/--from): its stored state stands if it is for the current inputs.
        const prev = store.experiment(id);
        if (entry.upToDate) {
          // Scored as when selected (below), so that a stored state without a consistency record (an
          // import scored where no pipeline was known, or none at all) gets its kind's verdict, and
          // dependents see the same status either way. Rewritten only when the verdict changed.
          const fp = entry.fingerprint!;
          const sc = scoreExperiment(store, registry, e, fp, entry.resultSource === 'import' ? importedReplicates(store, id) : e.replicates);
          const same = prev !== null && prev.fingerprint === fp && prev.status === sc.status && prev.reason === sc.reason && prev.complete === sc.complete && JSON.stringify(prev.consistency) === JSON.stringify(sc.consistency);
          if (!same) {
            const src = entry.resultSource === 'import' ? 'import' : 'cache';
            setState(e, entry, sc.status, sc.reason, { source: src, complete: sc.complete, consistency: sc.consistency, sourceRun: [...store.passingAttempts(id, fp).values()][0]?.runId ?? null });
          }
          state.set(id, { status: sc.status, reason: sc.reason });
          continue;
        }
        const passed = prev?.status === 'passed' && prev.fingerprint === entry.fingerprint;
        if (!prev || prev.fingerprint !== entry.fingerprint) setState(e, entry, 'pending', 'not selected by --only/--from');
        state.set(id, { status: passed ? 'passed' : 'pending', reason: passed ? null : 'not selected by --only/--from' });
        continue;
      }
      if (entry.blocked) {
        setState(e, entry, 'blocked', entry.blocked);
        summary.blocked.push(id);
        emit({ type: 'blocked', id, reason: entry.blocked });
        continue;
      }
      const badDep = e.dependsOn.map((d) => [d, state.get(d)] as const).find(([, s]) => s?.status !== 'passed');
      if (badDep) {
        const [d, s] = badDep;
        const reason = s?.status === 'blocked' && s.reason ? s.reason : `needs ${d}, which ${s?.status === 'failed' ? 'failed' : s?.status === 'interrupted' ? 'was interrupted' : `is ${s?.status ?? 'pending'}`}${s?.reason ? ` (${s.reason})` : ''}`;
        if (stopReason && s?.status !== 'failed' && s?.status !== 'blocked') {
          setState(e, entry, 'pending', stopReason);
          summary.pending.push(id);
        } else {
          setState(e, entry, 'blocked', reason);
          summary.blocked.push(id);
          emit({ type: 'blocked', id, reason });
        }
        continue;
      }
      if (stopReason && !entry.upToDate) {
        setState(e, entry, 'pending', stopReason);
        summary.pending.push(id);
        continue;
      }
      const fp = entry.fingerprint!;
      if (entry.upToDate) {
        const sc = scoreExperiment(store, registry, e, fp, entry.resultSource === 'import' ? importedReplicates(store, id) : e.replicates);
        const src = entry.resultSource === 'import' ? 'import' : 'cache';
        const firstRun = [...store.passingAttempts(id, fp).values()][0]?.runId ?? null;
        setState(e, entry, sc.status, sc.reason, { source: src, complete: sc.complete, consistency: sc.consistency, sourceRun: firstRun });
        (sc.status === 'passed' ? summary.passed : summary.failed).push(id);
        summary.reused.push(id);
        emit({ type: 'skip', id, status: sc.status, reason: sc.reason, source: src, note: entry.importNote });
        continue;
      }

      // Run the replicates that are missing (or all, when forced).
      index++;
      summary.ran.push(id);
      setState(e, entry, 'running', null, { source: 'run' });
      let failure: string | null = null;
      for (const k of entry.toRun) {
        let done = false;
        for (let attempt = 1; attempt <= 1 + e.retries && !done; attempt++) {
          const r = await runAttempt({ store, registry, spec, e, entry, fp, k, attempt, runId, runDir, inputs, emit, index, count: toRunTotal, signal: opts.signal, plan });
          if (r.status === 'passed') done = true;
          else if (r.status === 'interrupted') {
            interrupted = true;
            failure = r.error;
            break;
          } else {
            failure = `replicate ${k}: ${r.error}`;
            if (!r.retryable) break;
          }
        }
        if (interrupted || !done) break;
        failure = null;
      }
      if (interrupted) {
        setState(e, entry, 'interrupted', failure ?? 'interrupted', { source: 'run' });
        summary.interrupted.push(id);
        break;
      }
      if (failure) {
        setState(e, entry, 'failed', failure, { source: 'run', complete: false });
        summary.failed.push(id);
        if (opts.failFast) stopReason = `not run: --fail-fast stopped after ${id} failed`;
        continue;
      }
      const sc = scoreExperiment(store, registry, e, fp, e.replicates);
      setState(e, entry, sc.status, sc.reason, { source: 'run', complete: sc.complete, consistency: sc.consistency, sourceRun: runId });
      (sc.status === 'passed' ? summary.passed : summary.failed).push(id);
      if (sc.status === 'failed' && opts.failFast) stopReason = `not run: --fail-fast stopped after ${id} failed`;
    }
    if (interrupted) {
      // Leave the rest as they were; they are pending for this run.
      for (const id of plan.order) if (!state.has(id) && plan.entries.get(id)!.selected) summary.pending.push(id);
    }
    summary.status = interrupted ? 'interrupted' : summary.failed.length + summary.blocked.length + summary.pending.length > 0 ? 'failed' : 'passed';
    summary.exitCode = interrupted ? 130 : summary.status === 'passed' ? 0 : 1;
    summary.elapsedMs = Date.now() - t0;
    store.endRun(runId, summary.status, JSON.stringify({ ran: summary.ran, reused: summary.reused, passed: summary.passed.length, failed: summary.failed, blocked: summary.blocked, pending: summary.pending }));
    emit({ type: 'done', summary });
    return summary;
  } finally {
    store.close();
  }
}

interface AttemptArgs {
  store: Store;
  registry: KindRegistry;
  spec: PipelineSpec;
  e: ExperimentSpec;
  entry: PlanEntry;
  fp: string;
  k: number;
  attempt: number;
  runId: number;
  runDir: string;
  inputs: ResolvedInputs;
  emit: (e: RunEvent) => void;
  index: number;
  count: number;
  signal?: AbortSignal;
  plan: Plan;
}

/** One replicate in one child process, with its timeout; stores the outcome in one transaction. */
async function runAttempt(a: AttemptArgs): Promise<{ status: AttemptStatus; error: string | null; retryable: boolean }> {
  const { store, e, k, runDir } = a;
  const stem = `${e.id}.r${k}`;
  const logPath = join(runDir, 'logs', `${stem}.log`);
  const workDir = join(runDir, 'artifacts', e.id, `r${k}`);
  const jobPath = join(runDir, 'tmp', `${stem}.job.json`);
  const resultPath = join(runDir, 'tmp', `${stem}.result.json`);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  rmSync(resultPath, { force: true });
  const seed = replicateSeed(a.spec.seed, k);
  const models: Record<string, ResolvedModel> = {};
  for (const alias of e.models) models[alias] = a.inputs.models[alias];
  const job: ChildJob = {
    // Only the module that defines this kind: loading every kinds module in every child costs time.
    modules: a.registry.moduleOf(e.kind) !== undefined ? [a.registry.moduleOf(e.kind)!] : [...a.registry.modules],
    experiment: { id: e.id, kind: e.kind, phase: e.phase, question: e.question, title: e.title, dependsOn: [...e.dependsOn], params: e.params },
    replicate: k,
    replicates: e.replicates,
    seed,
    baseSeed: a.spec.seed,
    models,
    corpus: a.spec.corpus,
    groups: a.spec.corpus.groups,
    pipelineDir: a.spec.dir,
    runDir,
    workDir,
    cacheDir: join(runDir, 'cache'),
    deps: e.dependsOn.map((d) => ({ id: d, fingerprint: a.plan.entries.get(d)!.fingerprint! })),
    resultPath,
  };
  writeFileSync(jobPath, JSON.stringify(job, null, 1));
  const attemptId = store.startAttempt({ runId: a.runId, experiment: e.id, fingerprint: a.fp, replicate: k, try: a.attempt, seed, logPath: relative(runDir, logPath) });
  const logFd = openSync(logPath, 'a');
  writeSync(logFd, `==== ${e.id} (${e.kind}) replicate ${k}, attempt ${a.attempt}, seed ${seed}, fingerprint ${a.fp.slice(0, 16)}, started ${new Date().toISOString()}\n`);
  a.emit({ type: 'start', id: e.id, replicate: k, replicates: e.replicates, try: a.attempt, index: a.index, count: a.count, expectedMs: a.entry.expectedMs, remainingMs: a.plan.totalMs, logPath });

  const t0 = Date.now();
  const child = spawn(process.execPath, [CHILD_ENTRY, jobPath], { cwd: a.spec.dir, detached: true, stdio: ['ignore', logFd, logFd, 'ipc'] });
  let timedOut = false;
  let stopped = false;
  let graceTimer: NodeJS.Timeout | null = null;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig); // the child's whole process group (it was spawned detached)
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  const terminate = () => {
    killGroup('SIGTERM');
    graceTimer ??= setTimeout(() => killGroup('SIGKILL'), a.spec.killGraceMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    terminate();
  }, e.timeoutMs);
  const onAbort = () => {
    stopped = true;
    terminate();
  };
  if (a.signal?.aborted) onAbort();
  a.signal?.addEventListener('abort', onAbort);
  child.on('message', (m: { type?: string; label?: string; done?: number; total?: number }) => {
    if (m?.type === 'progress') a.emit({ type: 'progress', id: e.id, replicate: k, label: String(m.label), done: Number(m.done), total: Number(m.total) });
  });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError: Error | null }>((res) => {
    child.on('error', (err) => res({ code: null, signal: null, spawnError: err }));
    child.on('exit', (code, signal) => res({ code, signal, spawnError: null }));
  });
  clearTimeout(timer);
  if (graceTimer) clearTimeout(graceTimer);
  a.signal?.removeEventListener('abort', onAbort);
  const durationMs = Date.now() - t0;

  let status: AttemptStatus;
  let error: string | null = null;
  let retryable = true;
  let metrics: MetricInput[] = [];
  let artifacts: { path: string; sha256: string; bytes: number }[] = [];
  const result = readResult(resultPath);
  if (stopped) {
    status = 'interrupted';
    error = 'stopped by the user (Ctrl-C)';
    retryable = false;
  } else if (timedOut) {
    status = 'timeout';
    error = `timed out after ${formatDuration(e.timeoutMs)}${exit.signal === 'SIGKILL' ? ` (killed: still running ${formatDuration(a.spec.killGraceMs)} after SIGTERM)` : ''}`;
  } else if (exit.spawnError) {
    status = 'crashed';
    error = `could not start the child process: ${exit.spawnError.message}`;
  } else if (exit.code === 0 && result?.ok) {
    metrics = result.metrics.map((m) => ({ metric: m.metric, value: decodeNumber(m.value), model: m.model, language: m.language }));
    const problem = keyMetricProblem(keyMetricsOf(a.registry.get(e.kind)!, e.params), metrics);
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
    status ??= 'passed';
  } else if (result && !result.ok) {
    status = 'failed';
    error = result.error.split('\n')[0];
    if (result.userError) retryable = false;
  } else {
    status = 'crashed';
    error = `${exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`} without a result${lastLogLine(logPath) ? `: ${lastLogLine(logPath)}` : ''}`;
  }
  writeSync(logFd, `==== ${status}${error ? `: ${error}` : ''} after ${formatDuration(durationMs)}\n`);
  closeSync(logFd);
  store.finishAttempt(attemptId, { status, durationMs, exitCode: exit.code, signal: exit.signal, error }, metrics, artifacts);
  rmSync(jobPath, { force: true });
  rmSync(resultPath, { force: true });
  const willRetry = status !== 'passed' && status !== 'interrupted' && retryable && a.attempt <= e.retries;
  a.emit({ type: 'end', id: e.id, replicate: k, status, durationMs, error, willRetry });
  return { status, error, retryable };
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
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('===='));
    const l = lines.at(-1);
    return l ? l.trim().slice(0, 200) : null;
  } catch {
    return null;
  }
}
