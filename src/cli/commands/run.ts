// `langquant run [PIPELINE]`: runs a pipeline into a run folder, locally or as Slurm jobs, up to
// --jobs replicates at once, reusing stored results whose fingerprint did not change and resuming
// after an interruption (adopting the Slurm jobs a killed run left running). Also home of
// the pipeline commands' shared option handling and of `registerPipelineCommands`, which registers
// run, plan, status and import.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../errors.ts';
import { autoJobs, coresPerJob } from '../jobs.ts';
import { EXECUTORS, LocalExecutor, type Executor, type ExecutorName } from '../../pipeline/executor.ts';
import { KindRegistry } from '../../pipeline/kind.ts';
import { checkSelection, type Selection } from '../../pipeline/plan.ts';
import { runPipeline } from '../../pipeline/runner.ts';
import { SlurmExecutor, checkSlurmAvailable, parseSlurmOpts } from '../../pipeline/slurm.ts';
import { loadPipeline, type PipelineSpec } from '../../pipeline/spec.ts';
import { readStatus } from '../../pipeline/status.ts';
import { cachedModelRef, fetchHubModel } from '../hub.ts';
import { RunProgress } from '../progress.ts';
import { registerImport } from './import.ts';
import { registerPlan } from './plan.ts';
import { formatQuestions, registerStatus } from './status.ts';

/** The built-in study's pipeline file, run when no PIPELINE is given. */
export const BUILTIN_PIPELINE = fileURLToPath(new URL('../../../pipelines/disparity.yaml', import.meta.url));
/**
 * The study's experiment kinds (src/study/kinds.ts, exporting `kinds`, compiled to dist/study/kinds.js), loaded when
 * present.
 */
const STUDY_KINDS = fileURLToPath(
  new URL(`../../study/kinds${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
);

/** The registry the CLI hands the engine: the study's kinds when they exist. */
export async function cliRegistry(): Promise<KindRegistry> {
  return KindRegistry.load(existsSync(STUDY_KINDS) ? [STUDY_KINDS] : []);
}

export interface PipelineCliOptions {
  model?: string[];
  replicates?: string;
  seed?: string;
  kinds?: string[];
  only?: string[];
  from?: string[];
  force?: string[];
  out?: string;
}

const collect = (v: string, prev: string[] = []) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];
const collectOne = (v: string, prev: string[] = []) => [...prev, v];

/** Adds the options shared by run and plan. */
export function pipelineOptions(cmd: Command): Command {
  return cmd
    .option('--out <dir>', 'run folder holding the store, logs and artifacts (default: runs/<pipeline name>)')
    .option(
      '--model <alias=dir>',
      'use this checkpoint folder or Hugging Face id (org/name[@revision]) for a model alias (repeatable)',
      collectOne,
    )
    .option('--replicates <n>', 'replicates of every experiment (each with its own seed)')
    .option('--seed <s>', 'base seed (replicate k uses a seed derived from it)')
    .option('--only <ids>', 'only these experiments (comma-separated, repeatable) and what they need', collect)
    .option('--from <ids>', 'these experiments and everything downstream of them', collect)
    .option('--force <ids>', "rerun these (or '*' for all) and everything that depends on them", collect)
    .option('--kinds <module>', 'load more experiment kinds from a module (repeatable)', collectOne);
}

/** An integer option ≥ min; `word` (e.g. 'auto') is also accepted and gives undefined, as absence does. */
function intOption(v: string | undefined, flag: string, min: number, word?: string): number | undefined {
  if (v === undefined || v === word) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 0xffffffff)
    throw new ConfigError(`${flag} ${v}: expected ${word ? `'${word}' or ` : ''}an integer ≥ ${min}`);
  return n;
}

/** Loads and validates the pipeline named on the command line (or the built-in one). */
export async function loadFromCli(
  pipelineArg: string | undefined,
  o: PipelineCliOptions,
): Promise<{ spec: PipelineSpec; registry: KindRegistry; runDir: string; selection: Selection }> {
  let file = pipelineArg;
  if (file === undefined) {
    if (!existsSync(BUILTIN_PIPELINE))
      throw new ConfigError(
        `no pipeline file given and the built-in study (${BUILTIN_PIPELINE}) is not there; pass a pipeline file: langquant run PIPELINE.yaml`,
      );
    file = BUILTIN_PIPELINE;
  }
  const models: Record<string, string> = {};
  for (const m of o.model ?? []) {
    const eq = m.indexOf('=');
    if (eq <= 0 || eq === m.length - 1)
      throw new ConfigError(`--model ${m}: write --model ALIAS=DIR, e.g. --model base=models/gpt2`);
    models[m.slice(0, eq)] = m.slice(eq + 1);
  }
  const { spec, registry } = await loadPipeline(file, await cliRegistry(), {
    models,
    replicates: intOption(o.replicates, '--replicates', 1),
    seed: intOption(o.seed, '--seed', 0),
    kindModules: o.kinds ?? [],
    cwd: process.cwd(),
    // Hugging Face ids are looked up in the cache only (plan never downloads); run fetches first.
    resolveModel: (ref, base) => cachedModelRef(ref, base),
  });
  const selection: Selection = { only: o.only, from: o.from, force: o.force };
  const bad = checkSelection(spec, selection);
  if (bad.length > 0) throw new ConfigError(bad[0]);
  const runDir = resolve(o.out ?? `runs/${spec.name || basename(file).replace(/\.ya?ml$/, '')}`);
  return { spec, registry, runDir, selection };
}

function registerRun(program: Command): void {
  pipelineOptions(
    program
      .command('run')
      .argument('[pipeline]', 'pipeline YAML file (default: the built-in disparity study)')
      .description('run a pipeline of experiments: one at a time, with timeouts, cache and resume'),
  )
    .option('--keep-going', 'after a failure, run every experiment that does not depend on it (default)')
    .option('--fail-fast', 'stop at the first failure')
    .option(
      '--executor <name>',
      "where replicates run: 'local' child processes or 'slurm' jobs (default: the pipeline's executor:, else local)",
    )
    .option(
      '--jobs <n>',
      "replicates run at once, dependencies permitting, each on its share of the cores: a number, or 'auto' (the default with the local executor: one per core, as many as fit in half the memory; with slurm, 1)",
    )
    .option(
      '--no-score-cache',
      'score every unit afresh instead of reusing the per-unit scores kept in the run folder (the results are the same)',
    )
    .option(
      '--no-warm-workers',
      'local executor: start a fresh process for every replicate instead of reusing warm worker processes (the results are the same)',
    )
    .option(
      '--no-helpers',
      'local executor: never lend a free slot to a running replicate as a helper lane that scores its units from the other end (the results are the same)',
    )
    .option(
      '--slurm-opt <key=value>',
      'a Slurm resource for every job (partition, account, qos, cpus, mem, gres, constraint) or any sbatch long option (repeatable)',
      collectOne,
    )
    .action(
      async (
        pipelineArg: string | undefined,
        o: PipelineCliOptions & {
          failFast?: boolean;
          keepGoing?: boolean;
          executor?: string;
          jobs?: string;
          slurmOpt?: string[];
          scoreCache?: boolean;
          warmWorkers?: boolean;
          helpers?: boolean;
        },
      ) => {
        if (o.failFast && o.keepGoing)
          throw new ConfigError('--fail-fast and --keep-going contradict each other; give one');
        if (o.executor !== undefined && !(EXECUTORS as readonly string[]).includes(o.executor))
          throw new ConfigError(`--executor ${o.executor}: expected one of ${EXECUTORS.join(', ')}`);
        const jobsArg = intOption(o.jobs, '--jobs', 1, 'auto');
        const slurmOpts = parseSlurmOpts(o.slurmOpt ?? []);
        let loaded = await loadFromCli(pipelineArg, o);
        // Hugging Face models the experiments use are brought into the cache (or brought up to date
        // with their branch) first; the pipeline is then read again to see their snapshots.
        if (await fetchPipelineModels(loaded.spec)) loaded = await loadFromCli(pipelineArg, o);
        const { spec, registry, runDir, selection } = loaded;
        const executorName = (o.executor ?? spec.executor ?? 'local') as ExecutorName;
        let executor: Executor;
        if (executorName === 'slurm') {
          await checkSlurmAvailable();
          executor = new SlurmExecutor();
        } else executor = new LocalExecutor({ reuse: o.warmWorkers !== false });
        let jobs = jobsArg ?? 1;
        // Local replicates share the machine's cores (KindContext.cpus); a Slurm job has its allocation.
        let cpusPerJob: number | null = null;
        if (executorName === 'local') {
          const cores = availableParallelism();
          if (jobsArg === undefined) {
            const auto = autoJobs(spec, cores);
            jobs = auto.jobs;
            if (jobs > 1) process.stdout.write(`jobs: ${auto.reason} (--jobs N to choose)\n`);
          }
          cpusPerJob = coresPerJob(cores, jobs);
        }
        // One live bar cannot show several replicates at once: with --jobs > 1, plain lines.
        const progress = new RunProgress(process.stdout, jobs > 1 ? false : undefined);
        const ac = new AbortController();
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          signals++;
          if (signals === 1) {
            progress.stop();
            process.stderr.write(
              `\nlangquant: ${sig}: stopping the running experiment${executorName === 'slurm' ? ' (cancelling its Slurm jobs)' : ''} (again to quit at once)…\n`,
            );
            ac.abort();
          } else {
            process.exit(130); // the store is consistent: every write is a finished transaction
          }
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const summary = await runPipeline({
            spec,
            registry,
            runDir,
            selection,
            failFast: Boolean(o.failFast),
            signal: ac.signal,
            onEvent: progress.handle,
            options: { ...o, executor: executorName, pipeline: spec.file, kindModules: registry.modules },
            executor,
            jobs,
            slurm: slurmOpts,
            scoreCache: o.scoreCache !== false,
            cpusPerJob,
            helpers: o.helpers !== false,
          });
          progress.stop();
          const status = await readStatus(runDir);
          if (status && status.questions.length > 0) process.stdout.write(`\n${formatQuestions(status)}\n`);
          process.stdout.write(`\nrun folder: ${runDir}  (langquant status ${runDir})\n`);
          process.exitCode = summary.exitCode;
        } finally {
          progress.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );
}

/** Downloads the hub models the pipeline's experiments use; true when there were any. */
async function fetchPipelineModels(spec: PipelineSpec): Promise<boolean> {
  const used = new Set(spec.experiments.flatMap((e) => e.models));
  let any = false;
  for (const m of Object.values(spec.models)) {
    // a folder comes back from the resolver with neither an identity nor a problem
    if (!used.has(m.alias) || (m.identity === null && m.problem === null)) continue;
    await fetchHubModel(m.ref);
    any = true;
  }
  return any;
}

/** Registers run, plan, status and import. */
export function registerPipelineCommands(program: Command): void {
  registerRun(program);
  registerPlan(program);
  registerStatus(program);
  registerImport(program);
}
