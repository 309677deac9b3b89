// `langquant import RESULTS.json|csv --into RUNDIR --note TEXT`: results obtained elsewhere, stored
// with their provenance note and labelled as imported everywhere.

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { importResults, readResultsFile } from '../../pipeline/import.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument('<results>', 'a .json or .csv file of rows: experiment, metric, value [, model, language, replicate]')
    .description('bring in results obtained elsewhere so that experiments stand as done, labelled as imported')
    .requiredOption('--into <rundir>', 'run folder to import into')
    .option('--note <text>', 'where the results come from, e.g. "from EXP-039 v3" (or "note" in the JSON file)')
    .action((file: string, o: { into: string; note?: string }) => {
      const { rows, note } = readResultsFile(resolve(file));
      const r = importResults(resolve(o.into), rows, o.note ?? note ?? '');
      for (const e of r.experiments) process.stdout.write(`imported ${e.id}: ${e.metrics} metric(s) in ${e.replicates} replicate(s) — ${r.note}\n`);
    });
}
