// `langquant report [RUNDIR] [--compare RUN_B]`: writes report.md, report.html and charts/*.svg into
// the run folder (compare.md / compare.html with --compare). See src/report/.

import type { Command } from 'commander';
import { isAbsolute, relative, resolve } from 'node:path';

export function registerReport(program: Command): void {
  program
    .command('report')
    .argument('[rundir]', 'run folder (default: runs/disparity)')
    .description('write report.md and a self-contained report.html with charts into a run folder')
    .option(
      '--compare <run_b>',
      'set the tables of another run folder beside this one, with differences (writes compare.md, compare.html)',
    )
    .action(async (dir: string | undefined, o: { compare?: string }) => {
      const runDir = resolve(dir ?? 'runs/disparity');
      // Loaded on use: the chart renderer (vega) costs ~0.4 s to import, which every other command would pay.
      const [{ writeReport }, { STUDY_REPORT }] = await Promise.all([
        import('../../report/write.ts'),
        import('../../study/figures/index.ts'),
      ]);
      const r = await writeReport(runDir, { ...STUDY_REPORT, compare: o.compare });
      const missing = r.doc.sections.filter((s) => s.figure.missing).map((s) => s.figure.id);
      // Paths under the working folder relative to it, others as they are (never ../../…).
      const shown = (f: string) => {
        const rel = relative(process.cwd(), f);
        return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : f;
      };
      process.stdout.write(`wrote ${r.files.map(shown).join(', ')}\n`);
      if (missing.length)
        process.stdout.write(`figures without data (experiments not run yet): ${missing.join(', ')}\n`);
    });
}
