// The contract between the pipeline engine and the experiment kinds it runs. The engine knows
// nothing of models or languages: a kind receives validated parameters, its replicate's seed,
// the resolved model aliases and corpus settings from the pipeline file, read access to its
// dependencies' stored metrics, and records long-form metrics and artifacts through its context.
// Kinds live in modules (`export const kinds = [...]`) so that the child process that runs an
// experiment can load the very module the orchestrator validated the experiment's kind from.

import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { ensureTypeScriptLoader, isTypeScriptModule } from '../util/typescript.ts';
import { mean, spearman } from './stats.ts';

/** One metric as a kind records it. `model` and `language` are null when they do not apply. */
export interface MetricInput {
  metric: string;
  value: number; // NaN and ±Infinity are allowed and stored with an explicit flag
  model?: string | null;
  language?: string | null;
}

/** One stored metric, as read back from the store. */
export interface MetricRow {
  experiment: string;
  replicate: number;
  model: string | null;
  language: string | null;
  metric: string;
  value: number;
  source: 'run' | 'import';
}

export interface ArtifactRow {
  experiment: string;
  replicate: number;
  path: string; // relative to the run folder
  sha256: string;
  bytes: number;
}

/** A model alias after `--model` overrides, with the content hash that enters fingerprints. */
export interface ResolvedModel {
  alias: string;
  path: string; // absolute
  hash: string;
}

/** Read access to the results of the experiments this one depends on (their current results only). */
export interface DependencyReader {
  /** Ids of the dependencies, in the order written in the pipeline file. */
  readonly ids: readonly string[];
  /** Metrics of a dependency; a filter field left out matches everything. */
  metrics(
    id: string,
    filter?: { replicate?: number; metric?: string; model?: string | null; language?: string | null },
  ): MetricRow[];
  artifacts(id: string): ArtifactRow[];
  /** Absolute path of one of a dependency's artifacts (as recorded relative to the run folder). */
  artifactPath(row: ArtifactRow): string;
  /** Where the dependency's result came from: a run of this tool, or an import with its note. */
  source(id: string): { source: 'run' | 'import'; note: string | null };
}

/** What a kind's `run` receives. */
export interface KindContext<P> {
  readonly params: Readonly<P>;
  readonly experiment: Readonly<{
    id: string;
    kind: string;
    phase: string | null;
    question: string | null;
    title: string | null;
    dependsOn: readonly string[];
  }>;
  /** 0-based replicate index and its seed. Replicate k has the same seed in every experiment of a
   * run, so dependent experiments draw the same evaluation and calibration subsets. */
  readonly replicate: number;
  readonly replicates: number;
  readonly seed: number;
  readonly baseSeed: number;
  /** The model aliases this experiment uses. */
  readonly models: Readonly<Record<string, ResolvedModel>>;
  /** The pipeline file's `corpus` section, with `groups` (language groups) always present. */
  readonly corpus: Readonly<Record<string, unknown>>;
  readonly groups: Readonly<Record<string, readonly string[]>>;
  /** Folder of the pipeline file: relative paths in params are resolved against it. */
  readonly pipelineDir: string;
  readonly runDir: string;
  /** This replicate's own folder for artifacts (created, emptied before each attempt). */
  readonly workDir: string;
  /** A folder shared by all experiments of the run folder, for caches such as full-precision log-probabilities. */
  readonly cacheDir: string;
  /**
   * A folder shared by all experiments of the run folder (and by the processes running them at once)
   * for per-item results a kind may reuse instead of recomputing them, such as per-unit scores; null
   * when the run was asked not to reuse them (`langquant run --no-score-cache`). Reused results must
   * be identical to recomputed ones: this never enters a fingerprint.
   */
  readonly scoreCacheDir: string | null;
  /**
   * Cores this replicate may use: its share of the machine when the local executor runs several at
   * once (`langquant run --jobs N`: ⌊cores / N⌋), or null for every core it can see (one replicate at
   * a time; a Slurm job's allocation). Kinds that start threads size them by it.
   */
  readonly cpus: number | null;
  /**
   * 0: the replicate itself. 1: a helper lane — the same replicate run again by a second process on a
   * core the run would otherwise leave idle (only for a kind with `helpers: true`, local executor,
   * `--jobs` ≥ 2). A helper's metrics, artifacts and outcome are discarded and it is stopped when the
   * replicate ends: it exists to fill the run's caches (KindContext.scoreCacheDir) from the other end
   * of the work, so that the replicate finds part of its work done. Kinds give lane 1 the opposite
   * order of work; nothing they record may depend on the lane.
   */
  readonly lane: number;
  readonly deps: DependencyReader;
  metric(m: MetricInput): void;
  metric(metric: string, value: number, where?: { model?: string | null; language?: string | null }): void;
  /** Records a produced file (absolute, or relative to workDir) to be hashed and stored. */
  artifact(path: string): void;
  log(...parts: unknown[]): void;
  /** Progress of an inner loop (languages, layers): shown as a bar on a terminal. */
  progress(label: string, done: number, total: number): void;
  /** Aborted when the orchestrator goes away; long loops may check it. */
  readonly signal: AbortSignal;
}

/** All metrics of one replicate, for consistency rules. */
export interface ReplicateResult {
  replicate: number;
  metrics: MetricRow[];
}

export interface ConsistencyResult {
  ok: boolean;
  agreeing: number; // replicates agreeing with the common pattern
  total: number;
  detail: string; // one line
}

/** A research-question rule written in code (the YAML rule language covers most needs). */
export type QuestionRuleFn = (
  src: import('./rules.ts').EvidenceSource,
  params: Readonly<Record<string, unknown>>,
) => { status: import('./rules.ts').QuestionStatus; evidence: string };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds kinds of any params type
export interface Kind<P = any> {
  name: string;
  description?: string;
  /** Validates and normalises the `params` of an experiment (defaults filled in) at load time. */
  params: z.ZodType<P>;
  /** Metrics that must be recorded and finite for the experiment to pass. */
  keyMetrics?: readonly string[] | ((params: P) => readonly string[]);
  /** The model aliases an experiment of this kind uses (else: its `models` field, else all). */
  models?: (params: P) => readonly string[];
  /** Whether replicates agree; default: `defaultConsistency` over the key metrics. */
  consistency?: (replicates: ReplicateResult[], params: P) => ConsistencyResult;
  /**
   * The kind gains from a helper lane (KindContext.lane): most of its time is per-item work that it
   * keeps in the run's caches and looks up just before doing it, and what comes before that work is
   * cheap. The runner then starts a helper for a running replicate of it when a slot would otherwise
   * stay idle (nothing else is ready), and stops the helper when the replicate ends or when other
   * work becomes ready. Default false.
   */
  helpers?: boolean;
  run(ctx: KindContext<P>): Promise<void> | void;
}

/** Identity, for type inference of `P` from the zod schema. */
export function defineKind<S extends z.ZodType>(k: Kind<z.output<S>> & { params: S }): Kind<z.output<S>> {
  return k;
}

export function keyMetricsOf(kind: Kind, params: unknown): readonly string[] {
  const k = kind.keyMetrics;
  return typeof k === 'function' ? k(params) : (k ?? []);
}

/**
 * Default consistency rule, for each key metric: a replicate agrees when its effect (the mean over its
 * rows) has the sign most replicates share, and, when the metric has per-language values (three or
 * more), its Spearman correlation with at least half of the other replicates is ≥ `minRho`.
 */
export function defaultConsistency(
  reps: ReplicateResult[],
  keyMetrics: readonly string[],
  minRho = 0.8,
): ConsistencyResult {
  const total = reps.length;
  if (total < 2 || keyMetrics.length === 0)
    return { ok: true, agreeing: total, total, detail: total < 2 ? 'single replicate' : 'no key metrics' };
  const agrees = new Array<boolean>(total).fill(true);
  const problems: string[] = [];
  for (const metric of keyMetrics) {
    const effects = reps.map((r) => mean(r.metrics.filter((m) => m.metric === metric).map((m) => m.value)));
    const signs = effects.map(Math.sign);
    const count = (s: number) => signs.filter((x) => x === s).length;
    // The majority sign; a tie goes to the sign of the mean effect.
    const best = Math.max(count(1), count(-1), count(0));
    const tied = [1, -1, 0].filter((s) => count(s) === best);
    const common = tied.length === 1 ? tied[0] : Math.sign(mean(effects));
    signs.forEach((sg, i) => {
      if (sg !== common) {
        agrees[i] = false;
        problems.push(`${metric} r${reps[i].replicate} has sign ${sg} (most have ${common})`);
      }
    });
    // Per-language pattern: rows keyed by model and language, compared on the keys all replicates share.
    const series = reps.map((r) => {
      const m = new Map<string, number>();
      for (const row of r.metrics)
        if (row.metric === metric && row.language !== null) m.set(`${row.model ?? ''}\u0000${row.language}`, row.value);
      return m;
    });
    const keys = [...series[0].keys()].filter((k) => series.every((s) => s.has(k))).sort();
    if (keys.length < 3) continue;
    const vecs = series.map((s) => keys.map((k) => s.get(k)!));
    vecs.forEach((v, i) => {
      const rhos = vecs.filter((_, j) => j !== i).map((o) => spearman(v, o));
      const good = rhos.filter((r) => r >= minRho).length;
      if (good < Math.ceil(rhos.length / 2)) {
        agrees[i] = false;
        problems.push(
          `${metric} r${reps[i].replicate} rank correlation ${Math.max(...rhos).toFixed(2)} < ${minRho} with the others`,
        );
      }
    });
  }
  const agreeing = agrees.filter(Boolean).length;
  return {
    ok: agreeing === total,
    agreeing,
    total,
    detail:
      agreeing === total
        ? `consistent in ${agreeing}/${total} replicates`
        : `consistent in ${agreeing}/${total} replicates: ${problems.slice(0, 3).join('; ')}`,
  };
}

/** The kinds (and code rules) available to a pipeline, loaded from modules so children can reload them. */
export class KindRegistry {
  readonly modules: readonly string[]; // file: URLs
  private readonly kinds = new Map<string, Kind>();
  private readonly ruleFns = new Map<string, QuestionRuleFn>();
  private readonly origins = new Map<string, string>(); // kind name → module URL that exports it
  private readonly corpusSchemas = new Map<string, z.ZodType>(); // module URL → its corpus settings

  constructor(
    modules: readonly string[] = [],
    kinds: readonly Kind[] = [],
    rules: Readonly<Record<string, QuestionRuleFn>> = {},
    origins: Readonly<Record<string, string>> = {},
    corpus: Readonly<Record<string, z.ZodType>> = {},
  ) {
    this.modules = [...modules];
    for (const k of kinds) this.add(k);
    for (const [n, f] of Object.entries(rules)) this.ruleFns.set(n, f);
    for (const [n, u] of Object.entries(origins)) this.origins.set(n, u);
    for (const [u, c] of Object.entries(corpus)) this.corpusSchemas.set(u, c);
  }

  private add(k: Kind): void {
    if (this.kinds.has(k.name) && this.kinds.get(k.name) !== k)
      throw new ConfigError(`two experiment kinds are named '${k.name}'; rename one of them`);
    this.kinds.set(k.name, k);
  }

  /**
   * Loads modules exporting `kinds` (an array of Kind, or a default export array), optional `rules`,
   * and an optional `corpus`: a zod schema of the module's own settings in the pipeline's `corpus`
   * section, checked at load (with the file's lines) whenever an experiment uses one of its kinds.
   */
  static async load(modules: readonly string[]): Promise<KindRegistry> {
    const urls = [...new Set(modules.map(toModuleUrl))];
    const kinds: Kind[] = [];
    const rules: Record<string, QuestionRuleFn> = {};
    const origins: Record<string, string> = {};
    const corpus: Record<string, z.ZodType> = {};
    for (const url of urls) {
      let mod: Record<string, unknown>;
      if (isTypeScriptModule(url)) await ensureTypeScriptLoader(url);
      try {
        mod = (await import(url)) as Record<string, unknown>;
      } catch (e) {
        throw new ConfigError(
          `cannot load experiment kinds from ${url}: ${(e as Error).message.split('\n')[0]}; check the path given in 'kinds:' or --kinds`,
        );
      }
      const list = (mod.kinds ?? mod.default) as unknown;
      if (!Array.isArray(list))
        throw new ConfigError(`${url} exports no 'kinds' array; export const kinds = [ ... ] from it`);
      for (const k of list as Kind[]) {
        if (!k || typeof k.name !== 'string' || typeof k.run !== 'function' || !k.params)
          throw new ConfigError(`${url}: every kind needs a name, a params schema and a run function`);
        kinds.push(k);
        origins[k.name] ??= url;
      }
      Object.assign(rules, (mod.rules as Record<string, QuestionRuleFn> | undefined) ?? {});
      if (mod.corpus !== undefined) {
        const c = mod.corpus as { safeParse?: unknown };
        if (typeof c?.safeParse !== 'function')
          throw new ConfigError(`${url}: 'corpus' must be a zod schema of the module's corpus settings`);
        corpus[url] = mod.corpus as z.ZodType;
      }
    }
    return new KindRegistry(urls, kinds, rules, origins, corpus);
  }

  /** A registry with more modules loaded on top of this one. */
  async extend(modules: readonly string[]): Promise<KindRegistry> {
    if (modules.length === 0) return this;
    return KindRegistry.load([...this.modules, ...modules]);
  }

  get(name: string): Kind | undefined {
    return this.kinds.get(name);
  }
  names(): string[] {
    return [...this.kinds.keys()].sort();
  }
  /** The module that exports a kind (a child process loads only that one), if it came from a module. */
  moduleOf(name: string): string | undefined {
    return this.origins.get(name);
  }
  /** The corpus-settings schemas of the modules that export the named kinds (each once). */
  corpusSchemasFor(kindNames: Iterable<string>): z.ZodType[] {
    const urls = new Set([...kindNames].map((n) => this.origins.get(n)).filter((u): u is string => u !== undefined));
    return [...urls].map((u) => this.corpusSchemas.get(u)).filter((c): c is z.ZodType => c !== undefined);
  }
  rule(name: string): QuestionRuleFn | undefined {
    return this.ruleFns.get(name);
  }
}

/** A module path (absolute, or relative to the current folder) or URL, as a file: URL. */
export function toModuleUrl(spec: string): string {
  if (/^(file|data|node):/.test(spec)) return spec;
  return pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
}
