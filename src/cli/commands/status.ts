// `langquant status [RUNDIR] [--json]`: the research-question ledger and the experiment checklist
// of a run folder, with where each result came from.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { formatDuration } from '../../pipeline/duration.ts';
import { readStatus, type StatusReport } from '../../pipeline/status.ts';
import { Store } from '../../pipeline/store.ts';

const TICK: Record<string, string> = {
  passed: '✓',
  failed: '✗',
  blocked: '⊘',
  pending: '·',
  running: '…',
  interrupted: '!',
};

export function formatQuestions(s: StatusReport): string {
  const w = Math.max(...s.questions.map((q) => q.question.length), 8);
  return [
    'Research questions',
    ...s.questions.map((q) => `  ${q.id.padEnd(4)} ${q.question.padEnd(w)}  ${q.status.padEnd(9)}  ${q.evidence}`),
  ].join('\n');
}

function source(e: StatusReport['experiments'][number]): string {
  if (e.source === 'import') return `imported${e.note ? `: ${e.note}` : ''}`;
  if (e.source === 'cache') return `stored result${e.sourceRun ? ` (run ${e.sourceRun})` : ''}`;
  if (e.source === 'run') return `run ${e.sourceRun ?? ''}`.trim();
  return '';
}

export function formatStatus(s: StatusReport): string {
  const lines: string[] = [`run folder ${s.runDir}`];
  if (s.run)
    lines.push(
      `last run ${s.run.id}: ${s.run.status}, started ${s.run.startedAt}${s.run.endedAt ? `, ended ${s.run.endedAt}` : ''}`,
    );
  if (s.questions.length) lines.push('', formatQuestions(s));
  const w = Math.max(2, ...s.experiments.map((e) => e.id.length));
  const kw = Math.max(4, ...s.experiments.map((e) => (e.kind ?? '').length));
  lines.push('', 'Experiments');
  for (const e of s.experiments) {
    const d = e.durationMs !== null && e.source !== 'import' ? ` ${formatDuration(e.durationMs)}` : '';
    const c =
      e.consistency && e.consistency.total > 1
        ? `, ${e.consistency.agreeing}/${e.consistency.total} replicates consistent`
        : '';
    const jobs =
      e.status === 'running' && e.jobs.length
        ? ` [${e.jobs.map((j) => `r${j.replicate}: ${j.executor === 'slurm' ? `Slurm job ${j.jobId}` : `pid ${j.jobId.split('.')[0]}`}${j.state ? ` ${j.state}` : ''}`).join(', ')}]`
        : '';
    lines.push(
      `  ${TICK[e.status] ?? '?'} ${e.id.padEnd(w)}  ${(e.kind ?? '').padEnd(kw)}  ${e.status.padEnd(11)} ${[source(e), e.reason].filter(Boolean).join(' — ')}${jobs}${c}${d}`,
    );
  }
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .argument('[rundir]', 'run folder (default: runs/disparity)')
    .description('the research-question ledger and the experiment checklist of a run folder')
    .option('--json', 'print {"experiments": [...], "questions": [...]} as JSON')
    .option('--metrics <id>', "an experiment's metrics over replicates: mean, sd and 95 % interval")
    .action(async (dir: string | undefined, o: { json?: boolean; metrics?: string }) => {
      const runDir = resolve(dir ?? 'runs/disparity');
      const s = await readStatus(runDir);
      if (!s)
        throw new ConfigError(
          `${runDir} holds no langquant results; run a pipeline into it first: langquant run PIPELINE --out ${dir ?? 'runs/disparity'}`,
        );
      if (o.metrics !== undefined) {
        const e = s.experiments.find((x) => x.id === o.metrics);
        if (!e)
          throw new ConfigError(
            `--metrics ${o.metrics}: no experiment has this id in ${runDir} (ids: ${s.experiments.map((x) => x.id).join(', ')})`,
          );
        const store = Store.openReadOnly(runDir)!;
        try {
          const rows = store.summarize(e.id);
          if (o.json) {
            process.stdout.write(
              JSON.stringify({ id: e.id, status: e.status, source: e.source, note: e.note, metrics: rows }, null, 2) +
                '\n',
            );
            return;
          }
          const f = (v: number) =>
            Number.isFinite(v) ? String(Number(v.toPrecision(4))) : Number.isNaN(v) ? '–' : String(v);
          const lines = [
            `${e.id} (${e.status}${e.source === 'import' ? `, imported: ${e.note ?? ''}` : ''}): mean ± sd [95 % interval] over n replicates`,
          ];
          for (const r of rows)
            lines.push(
              `  ${[r.model, r.language, r.metric].filter((x) => x !== null).join(' · ')}  ${f(r.mean)} ± ${f(r.sd)} [${f(r.lo)}, ${f(r.hi)}] n=${r.n}${r.nonFinite ? `, ${r.nonFinite} non-finite` : ''}`,
            );
          process.stdout.write(lines.join('\n') + '\n');
        } finally {
          store.close();
        }
        return;
      }
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s) + '\n');
    });
}
