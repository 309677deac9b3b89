// `langquant report [RUNDIR] [--compare RUN_B]`: writes report.md, report.html and charts/*.svg into
// the run folder (compare.md / compare.html with --compare). See src/report/.

import type { Command } from 'commander';
import { relative, resolve } from 'node:path';
import { writeReport } from '../../report/write.ts';

export function registerReport(program: Command): void {
  program
    .command('report')
    .argument('[rundir]', 'run folder (default: runs/disparity)')
    .description('write report.md and a self-contained report.html with charts into a run folder')
    .option('--compare <run_b>', 'set the tables of another run folder beside this one, with differences (writes compare.md, compare.html)')
    .action(async (dir: string | undefined, o: { compare?: string }) => {
      const runDir = resolve(dir ?? 'runs/disparity');
      const r = await writeReport(runDir, { compare: o.compare });
      const missing = r.doc.sections.filter((s) => s.figure.missing).map((s) => s.figure.id);
      process.stdout.write(`wrote ${r.files.map((f) => relative(process.cwd(), f) || f).join(', ')}\n`);
      if (missing.length) process.stdout.write(`figures without data (experiments not run yet): ${missing.join(', ')}\n`);
    });
}
