// Pipeline files: YAML → raw schema (zod; also exported as JSON Schema) → normalised, frozen spec
// → rule checks (unknown kind, unknown or cyclic dependency, duplicate id, bad duration, bad rule),
// each error naming its culprit and the line of the file it sits on.
// Reference: changesets' config handling (schema → normalise → checks) and DESIGN.md §6.

import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { mergeSlurm } from './slurm.ts';
import { EXECUTORS, type ExecutorName, type SlurmResources } from './executor.ts';
import { KindRegistry, toModuleUrl } from './kind.ts';
import { findCycle } from './plan.ts';
import { ACROSS, CONSISTENCY_FIELDS, QUESTION_STATUSES, WITHIN, checkRule, type QuestionSpec } from './rules.ts';

// ---------------------------------------------------------------- raw schema (the file format)

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'ids are letters, digits, _ . - (e.g. A-001)');
const Duration = z
  .union([z.string(), z.number().nonnegative()])
  .describe('a duration: 500ms, 90s, 5m, 1h30m, or a number of seconds');

const ValueSelectorSchema = z.strictObject({
  experiment: z.string().describe('experiment id'),
  metric: z.string().optional(),
  model: z.string().optional(),
  language: z.string().optional().describe("a language code, or '@group' for a corpus language group"),
  replicate: z.number().int().min(0).optional(),
  within: z.enum(WITHIN).optional().describe("how a replicate's rows are reduced (default mean)"),
  across: z.enum(ACROSS).optional().describe('how replicates are reduced (default mean; lo/hi: 95 % t-interval)'),
  consistency: z
    .enum(CONSISTENCY_FIELDS)
    .optional()
    .describe("the experiment's replicate consistency instead of a metric"),
});

// One object for both rule forms (declarative: values/cases/evidence; code: fn/params), so that a
// mistake gets a precise message instead of a union's "invalid input".
const RuleSchema = z.strictObject({
  values: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'value names are identifiers'), ValueSelectorSchema)
    .optional(),
  cases: z
    .array(
      z.strictObject({
        when: z.string().optional().describe('an expression over the values; none: always'),
        status: z.enum(QUESTION_STATUSES),
        evidence: z.string().optional(),
      }),
    )
    .min(1)
    .optional()
    .describe('the first case whose when holds decides'),
  evidence: z.string().optional().describe('template: {name}, {name:.2f}, {name:.3g}, {name:.1%}'),
  fn: z
    .string()
    .optional()
    .describe('a rule function exported as rules.<fn> by a kinds module (instead of values/cases)'),
  params: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      'with fn: parameters of the rule function; with values/cases: named numeric constants (e.g. an equivalence margin) usable in when and evidence, named unlike the values',
    ),
});

const SlurmSchema = z
  .strictObject({
    partition: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    cpus: z.number().int().min(1).optional().describe('--cpus-per-task'),
    mem: z.string().optional().describe('--mem, e.g. 16G'),
    gres: z.string().optional().describe('e.g. gpu:1'),
    constraint: z.string().optional(),
    extra: z
      .array(z.string().regex(/^--?[A-Za-z]/, 'an sbatch option, e.g. --exclusive'))
      .optional()
      .describe('more sbatch options, verbatim'),
  })
  .describe(
    'Slurm resources of each replicate job (with --executor slurm); an experiment overrides the pipeline key by key, --slurm-opt overrides both',
  );

const ExperimentSchema = z.strictObject({
  id: Id,
  kind: z.string(),
  title: z.string().optional(),
  phase: z.string().optional(),
  question: z.string().optional().describe('id of the research question this experiment serves'),
  models: z.array(z.string()).optional().describe('model aliases used (default: what the kind says, else all)'),
  params: z.record(z.string(), z.unknown()).default({}),
  dependsOn: z.array(z.string()).default([]),
  expectedRuntime: Duration.optional().describe('expected time of one replicate'),
  timeout: Duration.optional().describe('hard limit for one replicate (default: the pipeline timeout, 1h)'),
  replicates: z.number().int().min(1).optional(),
  retries: z.number().int().min(0).optional(),
  slurm: SlurmSchema.optional(),
});

const QuestionSchema = z.strictObject({
  id: Id,
  question: z.string(),
  experiments: z.array(z.string()).optional().describe('default: the experiments whose question is this id'),
  rule: RuleSchema.optional(),
});

export const PipelineFileSchema = z.strictObject({
  version: z.literal(1).default(1),
  name: z.string().optional(),
  description: z.string().optional(),
  kinds: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('modules exporting experiment kinds, relative to this file'),
  seed: z.number().int().min(0).max(0xffffffff).default(0),
  replicates: z.number().int().min(1).default(1),
  timeout: Duration.default('1h'),
  killGrace: Duration.default('5s').describe('time between SIGTERM and SIGKILL when an experiment overruns'),
  retries: z.number().int().min(0).default(0),
  executor: z
    .enum(EXECUTORS)
    .default('local')
    .describe('where replicates run: local child processes, or Slurm jobs (--executor overrides)'),
  slurm: SlurmSchema.optional(),
  models: z
    .record(Id, z.union([z.string(), z.strictObject({ path: z.string(), description: z.string().optional() })]))
    .default({}),
  corpus: z
    .looseObject({
      name: z.string().optional(),
      path: z.string().optional().describe('a file or folder whose content enters every fingerprint'),
      languages: z.array(z.string()).optional(),
      groups: z.record(z.string(), z.array(z.string())).optional().describe('language groups, e.g. high/low resource'),
    })
    .default({}),
  experiments: z.array(ExperimentSchema).min(1),
  questions: z.array(QuestionSchema).default([]),
});
export type PipelineFile = z.output<typeof PipelineFileSchema>;

/** JSON Schema of the pipeline file format (written to schema/pipeline.schema.json). */
export function pipelineJsonSchema(): unknown {
  return {
    ...(z.toJSONSchema(PipelineFileSchema, { io: 'input' }) as object),
    $id: 'https://github.com/langquant/langquant/schema/pipeline.schema.json',
    title: 'langquant pipeline file',
  };
}

// ---------------------------------------------------------------- normalised spec

export interface ModelSpec {
  alias: string;
  path: string; // absolute
  description: string | null;
  overridden: boolean; // set by --model
  /** The reference as written (a folder, or whatever Overrides.resolveModel recognised). */
  ref: string;
  /** The model's identity from the resolver (e.g. a hub commit and blob hashes); null: hash the folder. */
  identity: string | null;
  /** Why the resolver cannot provide the model yet (shown instead of "no checkpoint at …"). */
  problem: string | null;
}

/**
 * What a model-reference resolver, handed in by the caller (the CLI), makes of a reference that is
 * not a plain folder: the folder to read, an identity for fingerprints, or a problem. Null: a folder.
 * The engine itself knows nothing of what a model is.
 */
export type ModelResolver = (
  ref: string,
  baseDir: string,
) => { path: string; identity: string | null; problem: string | null } | null;

export interface ExperimentSpec {
  id: string;
  kind: string;
  title: string | null;
  phase: string | null;
  question: string | null;
  models: string[]; // aliases used
  params: unknown; // normalised by the kind's schema
  dependsOn: string[];
  expectedRuntimeMs: number | null;
  timeoutMs: number;
  replicates: number;
  retries: number;
  slurm?: SlurmResources; // the pipeline's, overridden by the experiment's (not part of the fingerprint)
}

export interface PipelineSpec {
  file: string | null; // absolute path
  dir: string;
  name: string;
  description: string | null;
  kindModules: string[]; // file: URLs named by the file's `kinds:`
  seed: number;
  killGraceMs: number;
  executor?: ExecutorName; // default local
  models: Record<string, ModelSpec>;
  corpus: Record<string, unknown> & { groups: Record<string, string[]> };
  experiments: ExperimentSpec[]; // file order
  questions: QuestionSpec[];
}

export interface Overrides {
  models?: Record<string, string>; // alias → folder (absolute or relative to cwd)
  /** Resolves model references that are not folders (see ModelResolver). */
  resolveModel?: ModelResolver;
  replicates?: number;
  seed?: number;
  cwd?: string;
}

/** A pipeline file that does not validate; `problems` holds one line per problem. */
export class PipelineError extends ConfigError {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(
      `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1, 4).join('; ')}${problems.length > 4 ? '; …' : ''})` : ''} — fix ${file} and try again`,
    );
    this.name = 'PipelineError';
    this.problems = problems;
  }
}

type Path = (string | number)[];

/** Parses YAML text against the file schema; errors carry `file:line`. */
export function parsePipelineText(
  text: string,
  file: string,
): { raw: PipelineFile; lineOf: (path: Path) => number | null } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new PipelineError(file, [`${file}:${line}: YAML syntax error: ${e.message.split('\n')[0]}`]);
  }
  const lineOf = (path: Path): number | null => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return null;
  };
  const at = (path: Path) => {
    const l = lineOf(path);
    return `${file}${l !== null ? `:${l}` : ''}`;
  };
  const data = doc.toJS() as unknown;
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new PipelineError(file, [`${file}: a pipeline file is a YAML mapping with at least 'experiments:'`]);
  const r = PipelineFileSchema.safeParse(data);
  if (!r.success) {
    const problems = r.error.issues.map(
      (i) => `${at(i.path as Path)}: ${formatPath(i.path as Path, data)}: ${i.message}`,
    );
    throw new PipelineError(file, problems);
  }
  return { raw: r.data, lineOf };
}

/** "experiments[2] (A-003).timeout" */
function formatPath(path: Path, data: unknown): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  let cur: unknown = data;
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${p}`;
    cur = cur && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[p] : undefined;
    if (typeof p === 'number' && cur && typeof cur === 'object' && typeof (cur as { id?: unknown }).id === 'string')
      out += ` (${(cur as { id: string }).id})`;
  }
  return out;
}

/** The `kinds:` modules a parsed file names, as file: URLs resolved against its folder. */
export function kindModulesOf(raw: PipelineFile, dir: string): string[] {
  const list = raw.kinds === undefined ? [] : Array.isArray(raw.kinds) ? raw.kinds : [raw.kinds];
  return list.map((k) => toModuleUrl(isAbsolute(k) || /^[a-z]+:/.test(k) ? k : resolve(dir, k)));
}

/**
 * Normalises a parsed file with a registry (kinds validate their params) and overrides, then runs the
 * rule checks. Throws PipelineError listing every problem.
 */
export function normalisePipeline(
  raw: PipelineFile,
  file: string,
  registry: KindRegistry,
  lineOf: (path: Path) => number | null = () => null,
  ov: Overrides = {},
): PipelineSpec {
  const dir = dirname(file);
  const problems: string[] = [];
  const at = (path: Path, msg: string) => {
    const l = lineOf(path);
    problems.push(`${file}${l !== null ? `:${l}` : ''}: ${msg}`);
  };
  const duration = (v: unknown, path: Path, label: string): number => {
    const ms = parseDuration(v);
    if (ms === null) {
      at(path, `${label}: '${v}' is not a duration; write e.g. 500ms, 90s, 5m or 1h30m`);
      return 0;
    }
    return ms;
  };

  const timeoutMs = duration(raw.timeout, ['timeout'], 'timeout');
  const killGraceMs = duration(raw.killGrace, ['killGrace'], 'killGrace');

  const models: Record<string, ModelSpec> = {};
  const located = (ref: string, base: string) => {
    const r = ov.resolveModel?.(ref, base) ?? null;
    return r
      ? { ref, path: r.path, identity: r.identity, problem: r.problem }
      : { ref, path: resolve(base, ref), identity: null, problem: null };
  };
  for (const [alias, m] of Object.entries(raw.models)) {
    const p = typeof m === 'string' ? m : m.path;
    models[alias] = {
      alias,
      ...located(p, dir),
      description: typeof m === 'string' ? null : (m.description ?? null),
      overridden: false,
    };
  }
  for (const [alias, p] of Object.entries(ov.models ?? {})) {
    if (!models[alias])
      throw new ConfigError(
        `--model ${alias}=${p}: the pipeline has no model alias '${alias}' (it has: ${Object.keys(models).join(', ') || 'none'})`,
      );
    models[alias] = { ...models[alias], ...located(p, ov.cwd ?? process.cwd()), overridden: true };
  }

  // The kinds modules' own corpus settings (a study's splits, adequacy, …), checked here once with
  // the file's lines rather than inside a child process; a setting no one knows is a typo.
  const corpusSchemas = registry.corpusSchemasFor(new Set(raw.experiments.map((e) => e.kind)));
  const known = new Set(['name', 'path', 'languages', 'groups']);
  for (const c of corpusSchemas) {
    const shape = (c as { shape?: Record<string, unknown> }).shape;
    if (shape) for (const k of Object.keys(shape)) known.add(k);
    const r = c.safeParse(raw.corpus);
    if (!r.success)
      for (const iss of r.error.issues)
        at(
          ['corpus', ...(iss.path as Path)],
          `corpus${iss.path.length ? '.' + iss.path.join('.') : ''}: ${iss.message}`,
        );
  }
  if (corpusSchemas.length > 0) {
    for (const k of Object.keys(raw.corpus))
      if (!known.has(k)) at(['corpus', k], `corpus.${k}: not a corpus setting (known: ${[...known].join(', ')})`);
  }

  const groups: Record<string, string[]> = { ...(raw.corpus.groups ?? {}) };
  const corpus = { ...raw.corpus, groups } as PipelineSpec['corpus'];
  if (typeof raw.corpus.path === 'string') corpus.path = resolve(dir, raw.corpus.path);

  const ids = new Set<string>();
  raw.experiments.forEach((e, i) => {
    if (ids.has(e.id)) at(['experiments', i, 'id'], `experiments[${i}]: duplicate experiment id '${e.id}'`);
    ids.add(e.id);
  });
  const questionIds = new Set(raw.questions.map((q) => q.id));

  const experiments: ExperimentSpec[] = raw.experiments.map((e, i) => {
    const where = `experiments[${i}] (${e.id})`;
    const kind = registry.get(e.kind);
    let params: unknown = e.params;
    if (!kind) {
      at(
        ['experiments', i, 'kind'],
        `${where}: unknown kind '${e.kind}' (known kinds: ${registry.names().join(', ') || 'none — name a kinds module with kinds: or --kinds'})`,
      );
    } else {
      const r = kind.params.safeParse(e.params);
      if (!r.success)
        for (const iss of r.error.issues)
          at(
            ['experiments', i, 'params', ...(iss.path as Path)],
            `${where}.params${iss.path.length ? '.' + iss.path.join('.') : ''}: ${iss.message}`,
          );
      else params = r.data;
    }
    for (const d of e.dependsOn) {
      if (!ids.has(d))
        at(['experiments', i, 'dependsOn'], `${where}: dependsOn names '${d}', which is not an experiment id`);
      if (d === e.id) at(['experiments', i, 'dependsOn'], `${where} depends on itself`);
    }
    if (e.question !== undefined && questionIds.size > 0 && !questionIds.has(e.question))
      at(
        ['experiments', i, 'question'],
        `${where}: question '${e.question}' is not a question id (known: ${[...questionIds].join(', ')})`,
      );
    let used: string[];
    if (e.models) used = [...e.models];
    else if (kind?.models && params !== e.params) used = [...kind.models(params)];
    else if (kind?.models) used = [];
    else used = Object.keys(models);
    for (const a of used)
      if (!models[a])
        at(
          ['experiments', i, e.models ? 'models' : 'params'],
          `${where} uses model alias '${a}', which the pipeline's models: does not define (it has: ${Object.keys(models).join(', ') || 'none'})`,
        );
    return {
      id: e.id,
      kind: e.kind,
      title: e.title ?? null,
      phase: e.phase ?? null,
      question: e.question ?? null,
      models: [...new Set(used)].sort(),
      params,
      dependsOn: [...e.dependsOn],
      expectedRuntimeMs:
        e.expectedRuntime === undefined
          ? null
          : duration(e.expectedRuntime, ['experiments', i, 'expectedRuntime'], `${where}.expectedRuntime`),
      timeoutMs:
        e.timeout === undefined ? timeoutMs : duration(e.timeout, ['experiments', i, 'timeout'], `${where}.timeout`),
      replicates: ov.replicates ?? e.replicates ?? raw.replicates,
      retries: e.retries ?? raw.retries,
      slurm: mergeSlurm(raw.slurm, e.slurm),
    };
  });

  const cycle = findCycle(
    experiments.map((e) => ({ id: e.id, deps: e.dependsOn.filter((d) => ids.has(d) && d !== e.id) })),
  );
  if (cycle)
    at(
      ['experiments', raw.experiments.findIndex((e) => e.id === cycle[0]), 'dependsOn'],
      `dependency cycle: ${cycle.join(' → ')}`,
    );

  const qids = new Set<string>();
  const questions: QuestionSpec[] = raw.questions.map((q, i) => {
    if (qids.has(q.id)) at(['questions', i, 'id'], `questions[${i}]: duplicate question id '${q.id}'`);
    qids.add(q.id);
    const exps = q.experiments ?? experiments.filter((e) => e.question === q.id).map((e) => e.id);
    for (const x of exps)
      if (!ids.has(x))
        at(
          ['questions', i, 'experiments'],
          `questions[${i}] (${q.id}): experiments names '${x}', which is not an experiment id`,
        );
    if (exps.length === 0)
      at(
        ['questions', i],
        `questions[${i}] (${q.id}): no experiments; list them in experiments: or set question: ${q.id} on them`,
      );
    let rule: QuestionSpec['rule'] = null;
    const r = q.rule;
    if (r !== undefined) {
      if (r.fn !== undefined) {
        if (r.cases || r.values || r.evidence)
          at(
            ['questions', i, 'rule'],
            `questions[${i}] (${q.id}).rule: give either fn (with params) or values/cases/evidence, not both`,
          );
        rule = { fn: r.fn, params: r.params ?? {} };
      } else if (!r.cases) {
        at(['questions', i, 'rule'], `questions[${i}] (${q.id}).rule: needs cases (a list of { when, status }) or fn`);
      } else {
        const params = r.params ?? {};
        for (const name of Object.keys(params))
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
            at(
              ['questions', i, 'rule', 'params', name],
              `questions[${i}] (${q.id}).rule.params: '${name}' is not an identifier (letters, digits, _), so no expression could name it`,
            );
        // Numbers only, and no name shared with a value: checked with the rest of the rule by checkRule.
        rule = {
          params: params as Record<string, number>,
          values: r.values ?? {},
          cases: r.cases.map((c) => ({ when: c.when ?? null, status: c.status, evidence: c.evidence ?? null })),
          evidence: r.evidence ?? null,
        };
      }
    }
    const spec: QuestionSpec = { id: q.id, question: q.question, experiments: exps, rule };
    if (rule && 'fn' in rule && !registry.rule(rule.fn))
      at(
        ['questions', i, 'rule', 'fn'],
        `questions[${i}] (${q.id}).rule.fn: no rule function '${rule.fn}' in the kinds modules`,
      );
    for (const msg of checkRule(spec, ids, groups))
      at(['questions', i, 'rule'], `questions[${i}] (${q.id}).rule.${msg}`);
    return spec;
  });

  if (problems.length > 0) throw new PipelineError(file, problems);
  return deepFreeze({
    file,
    dir,
    name: raw.name ?? file.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/, ''),
    description: raw.description ?? null,
    kindModules: kindModulesOf(raw, dir),
    seed: ov.seed ?? raw.seed,
    killGraceMs,
    executor: raw.executor,
    models,
    corpus,
    experiments,
    questions,
  });
}

/** Reads, validates and normalises a pipeline file, loading the kinds modules it names. */
export async function loadPipeline(
  file: string,
  base: KindRegistry,
  ov: Overrides & { kindModules?: string[] } = {},
): Promise<{ spec: PipelineSpec; registry: KindRegistry }> {
  const abs = resolve(ov.cwd ?? process.cwd(), file);
  if (!existsSync(abs))
    throw new ConfigError(`pipeline file ${file} does not exist; give the path of a pipeline YAML file`);
  if (!statSync(abs).isFile())
    throw new ConfigError(`${file} is a folder, not a pipeline file; give the path of a pipeline YAML file`);
  const { raw, lineOf } = parsePipelineText(readFileSync(abs, 'utf8'), abs);
  const registry = await base.extend([
    ...(ov.kindModules ?? []).map((m) => toModuleUrl(isAbsolute(m) ? m : resolve(ov.cwd ?? process.cwd(), m))),
    ...kindModulesOf(raw, dirname(abs)),
  ]);
  return { spec: normalisePipeline(raw, abs, registry, lineOf, ov), registry };
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}
