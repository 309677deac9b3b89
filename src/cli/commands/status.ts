// `langquant status [RUNDIR] [--json]`: the research-question ledger and the experiment checklist
// of a run folder, with where each result came from.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { formatDuration } from '../../pipeline/duration.ts';
import { readStatus, type StatusReport } from '../../pipeline/status.ts';

const TICK: Record<string, string> = { passed: '✓', failed: '✗', blocked: '⊘', pending: '·', running: '…', interrupted: '!' };

export function formatQuestions(s: StatusReport): string {
  const w = Math.max(...s.questions.map((q) => q.question.length), 8);
  return ['Research questions', ...s.questions.map((q) => `  ${q.id.padEnd(4)} ${q.question.padEnd(w)}  ${q.status.padEnd(9)}  ${q.evidence}`)].join('\n');
}

function source(e: StatusReport['experiments'][number]): string {
  if (e.source === 'import') return `imported${e.note ? `: ${e.note}` : ''}`;
  if (e.source === 'cache') return `stored result${e.sourceRun ? ` (run ${e.sourceRun})` : ''}`;
  if (e.source === 'run') return `run ${e.sourceRun ?? ''}`.trim();
  return '';
}

export function formatStatus(s: StatusReport): string {
  const lines: string[] = [`run folder ${s.runDir}`];
  if (s.run) lines.push(`last run ${s.run.id}: ${s.run.status}, started ${s.run.startedAt}${s.run.endedAt ? `, ended ${s.run.endedAt}` : ''}`);
  if (s.questions.length) lines.push('', formatQuestions(s));
  const w = Math.max(2, ...s.experiments.map((e) => e.id.length));
  lines.push('', 'Experiments');
  for (const e of s.experiments) {
    const d = e.durationMs !== null && e.source !== 'import' ? ` ${formatDuration(e.durationMs)}` : '';
    const c = e.consistency && e.consistency.total > 1 ? `, ${e.consistency.agreeing}/${e.consistency.total} replicates consistent` : '';
    lines.push(`  ${TICK[e.status] ?? '?'} ${e.id.padEnd(w)}  ${(e.kind ?? '').padEnd(12)} ${e.status.padEnd(11)} ${[source(e), e.reason].filter(Boolean).join(' — ')}${c}${d}`);
  }
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .argument('[rundir]', 'run folder (default: runs/disparity)')
    .description('the research-question ledger and the experiment checklist of a run folder')
    .option('--json', 'print {"experiments": [...], "questions": [...]} as JSON')
    .action(async (dir: string | undefined, o: { json?: boolean }) => {
      const runDir = resolve(dir ?? 'runs/disparity');
      const s = await readStatus(runDir);
      if (!s) throw new ConfigError(`${runDir} holds no langquant results; run a pipeline into it first: langquant run PIPELINE --out ${dir ?? 'runs/disparity'}`);
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s) + '\n');
    });
}
