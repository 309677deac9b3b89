// `langquant plan [PIPELINE]`: the order, fingerprints, what is up to date and the expected
// runtimes, without running anything (the run folder's store is only read).

import type { Command } from 'commander';
import { formatDuration } from '../../pipeline/duration.ts';
import { planPipeline } from '../../pipeline/plan.ts';
import { resolveInputs, storedResults } from '../../pipeline/runner.ts';
import { Store } from '../../pipeline/store.ts';
import { loadFromCli, pipelineOptions, type PipelineCliOptions } from './run.ts';

export function registerPlan(program: Command): void {
  pipelineOptions(
    program
      .command('plan')
      .argument('[pipeline]', 'pipeline YAML file (default: the built-in disparity study)')
      .description('show the order, dependencies, fingerprints, expected runtimes and what is already up to date'),
  )
    .option('--json', 'print JSON')
    .action(async (pipelineArg: string | undefined, o: PipelineCliOptions & { json?: boolean }) => {
      const { spec, runDir, selection } = await loadFromCli(pipelineArg, o);
      const store = Store.openReadOnly(runDir);
      try {
        const inputs = resolveInputs(spec, store);
        const plan = planPipeline(spec, inputs, storedResults(store), selection);
        const rows = plan.order.map((id) => {
          const x = plan.entries.get(id)!;
          const action = !x.selected
            ? 'skip (not selected)'
            : x.blocked
              ? 'blocked'
              : x.upToDate
                ? x.resultSource === 'import'
                  ? 'up to date (imported)'
                  : 'up to date'
                : x.forced
                  ? 'run (forced)'
                  : x.toRun.length < x.replicates
                    ? `run r${x.toRun.join(',')}`
                    : 'run';
          return { ...x, action };
        });
        if (o.json) {
          process.stdout.write(
            JSON.stringify(
              {
                pipeline: spec.file,
                runDir,
                order: plan.order,
                totalMs: plan.totalMs,
                unknownRuntimes: plan.unknownRuntimes,
                experiments: rows,
              },
              null,
              2,
            ) + '\n',
          );
          return;
        }
        const w = Math.max(2, ...plan.order.map((id) => id.length));
        const kw = Math.max(4, ...rows.map((x) => x.kind.length));
        const lines = [`pipeline ${spec.file}`, `run folder ${runDir}`, ''];
        rows.forEach((x, i) => {
          const deps = x.deps.length ? ` ← ${x.deps.join(', ')}` : '';
          const t = x.expectedMs !== null ? formatDuration(x.expectedMs) : '?';
          lines.push(
            `${String(i + 1).padStart(3)}. ${x.id.padEnd(w)}  ${x.kind.padEnd(kw)}  ${(x.fingerprint ?? '-').slice(0, 12).padEnd(12)}  ${t.padStart(7)} ×${x.replicates}  ${x.action}${x.blocked ? `: ${x.blocked}` : ''}${x.importNote ? `: ${x.importNote}` : ''}${deps}`,
          );
        });
        const toRun = rows.filter((x) => x.selected && !x.blocked && x.toRun.length > 0).length;
        lines.push(
          '',
          `${toRun} to run, expected ${formatDuration(plan.totalMs)}${plan.unknownRuntimes ? ` plus ${plan.unknownRuntimes} without an estimate` : ''}`,
        );
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        store?.close();
      }
    });
}
