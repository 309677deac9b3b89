// The child side of the runner: runs one replicate of one experiment, then writes its metrics and
// artifact list to a result file (temporary name, then renamed). Its stdout and stderr are the
// experiment's log file; progress goes to the orchestrator over the IPC channel. When the
// orchestrator disappears (even killed with SIGKILL), the IPC channel closes and this process exits.
// Run as a Slurm job there is no IPC channel: progress goes to a small file beside the job file, and
// the job outlives its orchestrator (a restarted one adopts it). Either way it never opens the store:
// its dependencies' results come with the job file (protocol.ts says why).
//
// Two ways to run: `child <job file>` runs one replicate and exits; `child --worker` (the local
// executor's warm worker, executor.ts) waits on its IPC channel for jobs and runs them one after
// the other in the same process, so that starting Node, loading modules and onnxruntime and warming
// the JIT are paid once per worker instead of once per replicate. A worker writes each job's output
// to that job's log file itself (process.stdout/stderr's writes are redirected while the job runs)
// and answers `done` with the exit code a one-shot child would have had.

import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { inspect } from 'node:util';
import { UserError } from '../errors.ts';
import { KindRegistry, type DependencyReader, type KindContext, type MetricInput, type MetricRow } from './kind.ts';
import {
  EXIT_NO_JOB_FILE,
  decodeNumber,
  encodeNumber,
  noJobFileMessage,
  type ChildJob,
  type ChildResult,
  type DependencySnapshot,
  type EncodedMetric,
  type WorkerDone,
  type WorkerJob,
} from './protocol.ts';

function writeResult(path: string, r: ChildResult): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(r));
  renameSync(`${path}.tmp`, path);
}

/** Set while a job runs: the orchestrator's disconnect aborts it. */
let running: AbortController | null = null;

process.on('disconnect', () => {
  if (!running) {
    if (process.argv[2] === '--worker') process.exit(0); // an idle worker is released
    return; // a one-shot child that has finished: the event loop ends by itself
  }
  // The orchestrator is gone: nobody will store this result.
  running.abort();
  process.exit(137);
});

async function main(jobPath: string): Promise<number> {
  if (!existsSync(jobPath)) {
    process.stderr.write(`${noJobFileMessage(jobPath, hostname())}\n`);
    return EXIT_NO_JOB_FILE;
  }
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as ChildJob;
  const abort = new AbortController();
  running = abort;
  let lastProgress = 0;
  const metrics: EncodedMetric[] = [];
  const artifacts: string[] = [];
  const depById = new Map(job.deps.map((d) => [d.id, d]));
  const needDep = (id: string): DependencySnapshot => {
    const d = depById.get(id);
    if (d === undefined)
      throw new UserError(
        `experiment ${job.experiment.id} read results of '${id}', which is not among its dependencies (${[...depById.keys()].join(', ') || 'none'}); add it to dependsOn`,
      );
    return d;
  };
  const deps: DependencyReader = {
    ids: job.deps.map((d) => d.id),
    metrics: (id, filter = {}) =>
      needDep(id)
        .metrics.filter(
          (m) =>
            (filter.replicate === undefined || m.replicate === filter.replicate) &&
            (filter.metric === undefined || m.metric === filter.metric) &&
            (filter.model === undefined || m.model === filter.model) &&
            (filter.language === undefined || m.language === filter.language),
        )
        .map((m): MetricRow => ({ experiment: id, ...m, value: decodeNumber(m.value) })),
    artifacts: (id) => needDep(id).artifacts.map((a) => ({ ...a })),
    artifactPath: (row) => resolve(job.runDir, row.path),
    source: (id) => {
      const d = needDep(id);
      return { source: d.source, note: d.note };
    },
  };
  // The params were normalised by the kind's own schema in the orchestrator: typed by the kind, not here.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const ctx: KindContext<any> = {
    params: job.experiment.params as any,
    /* eslint-enable @typescript-eslint/no-explicit-any */
    experiment: job.experiment,
    replicate: job.replicate,
    replicates: job.replicates,
    seed: job.seed,
    baseSeed: job.baseSeed,
    models: job.models,
    corpus: job.corpus,
    groups: job.groups,
    pipelineDir: job.pipelineDir,
    runDir: job.runDir,
    workDir: job.workDir,
    cacheDir: job.cacheDir,
    scoreCacheDir: job.scoreCacheDir ?? null,
    cpus: job.cpus ?? null,
    lane: job.lane ?? 0,
    deps,
    metric(a: MetricInput | string, value?: number, where?: { model?: string | null; language?: string | null }) {
      const m: MetricInput = typeof a === 'string' ? { metric: a, value: value as number, ...where } : a;
      if (typeof m.metric !== 'string' || m.metric === '') throw new Error('ctx.metric: a metric needs a name');
      if (typeof m.value !== 'number')
        throw new Error(`ctx.metric: ${m.metric} has a non-number value ${inspect(m.value)}`);
      metrics.push({
        metric: m.metric,
        value: encodeNumber(m.value),
        model: m.model ?? null,
        language: m.language ?? null,
      });
    },
    artifact(p: string) {
      artifacts.push(isAbsolute(p) ? p : resolve(job.workDir, p));
    },
    log(...parts: unknown[]) {
      process.stdout.write(parts.map((p) => (typeof p === 'string' ? p : inspect(p, { depth: 4 }))).join(' ') + '\n');
    },
    progress(label: string, done: number, total: number) {
      const t = Date.now();
      if (process.connected) {
        // At most ten messages a second, but always the last one.
        if (t - lastProgress >= 100 || done >= total) {
          lastProgress = t;
          process.send?.({ type: 'progress', label, done, total });
        }
      } else if (job.progressPath && (t - lastProgress >= 1000 || done >= total)) {
        // A file on a shared filesystem, read when the orchestrator polls: at most once a second.
        lastProgress = t;
        try {
          writeFileSync(`${job.progressPath}.tmp`, JSON.stringify({ label, done, total }));
          renameSync(`${job.progressPath}.tmp`, job.progressPath);
        } catch {
          /* progress is best effort */
        }
      }
    },
    signal: abort.signal,
  };
  try {
    const registry = await KindRegistry.load(job.modules);
    const kind = registry.get(job.experiment.kind);
    if (!kind)
      throw new UserError(
        `experiment kind '${job.experiment.kind}' is not in the kinds modules (${job.modules.join(', ')})`,
      );
    await kind.run(ctx);
    writeResult(job.resultPath, { ok: true, metrics, artifacts });
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`${err?.stack ?? String(e)}\n`);
    writeResult(job.resultPath, { ok: false, error: err?.message ?? String(e), userError: e instanceof UserError });
    return 1;
  } finally {
    running = null;
  }
}

type Write = typeof process.stdout.write;

/** Runs `f` with process.stdout's and process.stderr's writes appended to `logFile`. */
async function withLog<T>(logFile: string, f: () => Promise<T>): Promise<T> {
  const fd = openSync(logFile, 'a');
  const saved: [Write, Write] = [process.stdout.write, process.stderr.write];
  const write = ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
    writeSync(
      fd,
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8')
        : chunk,
    );
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as Write;
  process.stdout.write = write;
  process.stderr.write = write;
  try {
    return await f();
  } finally {
    [process.stdout.write, process.stderr.write] = saved;
    closeSync(fd);
  }
}

function worker(): void {
  let queue = Promise.resolve();
  process.on('message', (m: WorkerJob) => {
    if (m?.type !== 'job') return;
    queue = queue.then(async () => {
      let code: number;
      try {
        process.chdir(m.cwd);
        code = await withLog(m.logFile, () => main(m.jobFile));
      } catch (e) {
        // Only the job's folder or log file can fail here (main catches everything else).
        code = 1;
        process.stderr.write(`langquant worker: ${(e as Error)?.message ?? String(e)}\n`);
      }
      const retire = process.memoryUsage().rss > m.maxRssBytes;
      const done: WorkerDone = { type: 'done', code, retire };
      process.send?.(done, () => {
        if (retire) process.disconnect();
      });
    });
  });
}

if (process.argv[2] === '--worker') worker();
else {
  const code = await main(process.argv[2]);
  // Leave through the event loop so stdout reaches the log file; disconnect lets the process end.
  process.exitCode = code;
  if (process.connected) process.disconnect();
}
