// The child side of the runner: runs one replicate of one experiment, then writes its metrics and
// artifact list to a result file (temporary name, then renamed) and exits. Its stdout and stderr are
// the experiment's log file; progress goes to the orchestrator over the IPC channel. When the
// orchestrator disappears (even killed with SIGKILL), the IPC channel closes and this process exits.
// It reads its dependencies' results from the store (read-only); only the orchestrator writes.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { inspect } from 'node:util';
import { UserError } from '../errors.ts';
import { KindRegistry, type DependencyReader, type KindContext, type MetricInput } from './kind.ts';
import { Store } from './store.ts';
import { encodeNumber, type ChildJob, type ChildResult, type EncodedMetric } from './protocol.ts';

function writeResult(path: string, r: ChildResult): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(r));
  renameSync(`${path}.tmp`, path);
}

let finished = false;

async function main(jobPath: string): Promise<number> {
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as ChildJob;
  const abort = new AbortController();
  process.on('disconnect', () => {
    if (finished) return;
    // The orchestrator is gone: nobody will store this result.
    abort.abort();
    process.exit(137);
  });
  let lastProgress = 0;
  const metrics: EncodedMetric[] = [];
  const artifacts: string[] = [];
  let store: Store | null = null;
  const openStore = () => (store ??= Store.openReadOnly(job.runDir));
  const depFp = new Map(job.deps.map((d) => [d.id, d.fingerprint]));
  const needDep = (id: string) => {
    const fp = depFp.get(id);
    if (fp === undefined) throw new UserError(`experiment ${job.experiment.id} read results of '${id}', which is not among its dependencies (${[...depFp.keys()].join(', ') || 'none'}); add it to dependsOn`);
    return fp;
  };
  const deps: DependencyReader = {
    ids: job.deps.map((d) => d.id),
    metrics: (id, filter) => openStore()?.metrics(id, needDep(id), filter ?? {}) ?? [],
    artifacts: (id) => openStore()?.artifacts(id, needDep(id)) ?? [],
    artifactPath: (row) => resolve(job.runDir, row.path),
    source: (id) => {
      const fp = needDep(id);
      const a = [...(openStore()?.passingAttempts(id, fp).values() ?? [])][0];
      return { source: a?.source ?? 'run', note: a?.note ?? null };
    },
  };
  const ctx: KindContext<any> = {
    params: job.experiment.params as any,
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
    deps,
    metric(a: MetricInput | string, value?: number, where?: { model?: string | null; language?: string | null }) {
      const m: MetricInput = typeof a === 'string' ? { metric: a, value: value as number, ...where } : a;
      if (typeof m.metric !== 'string' || m.metric === '') throw new Error('ctx.metric: a metric needs a name');
      if (typeof m.value !== 'number') throw new Error(`ctx.metric: ${m.metric} has a non-number value ${inspect(m.value)}`);
      metrics.push({ metric: m.metric, value: encodeNumber(m.value), model: m.model ?? null, language: m.language ?? null });
    },
    artifact(p: string) {
      artifacts.push(isAbsolute(p) ? p : resolve(job.workDir, p));
    },
    log(...parts: unknown[]) {
      process.stdout.write(parts.map((p) => (typeof p === 'string' ? p : inspect(p, { depth: 4 }))).join(' ') + '\n');
    },
    progress(label: string, done: number, total: number) {
      const t = Date.now();
      // At most ten messages a second, but always the last one.
      if (process.connected && (t - lastProgress >= 100 || done >= total)) {
        lastProgress = t;
        process.send?.({ type: 'progress', label, done, total });
      }
    },
    signal: abort.signal,
  };
  try {
    const registry = await KindRegistry.load(job.modules);
    const kind = registry.get(job.experiment.kind);
    if (!kind) throw new UserError(`experiment kind '${job.experiment.kind}' is not in the kinds modules (${job.modules.join(', ')})`);
    await kind.run(ctx);
    writeResult(job.resultPath, { ok: true, metrics, artifacts });
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`${err?.stack ?? String(e)}\n`);
    writeResult(job.resultPath, { ok: false, error: err?.message ?? String(e), userError: e instanceof UserError });
    return 1;
  } finally {
    (store as Store | null)?.close();
  }
}

const code = await main(process.argv[2]);
// Leave through the event loop so stdout reaches the log file; disconnect lets the process end.
process.exitCode = code;
finished = true;
if (process.connected) process.disconnect();
