// `langquant import RESULTS.json|csv --into RUNDIR --note TEXT`: results obtained elsewhere, stored
// with their provenance note, labelled as imported everywhere and scored like a run's results (the
// experiment kind's key metrics and consistency rule, when the folder's pipeline names the kind).

import type { Command } from 'commander';
import { resolve } from 'node:path';
import { importResults, readResultsFile } from '../../pipeline/import.ts';
import type { KindRegistry } from '../../pipeline/kind.ts';
import { Store } from '../../pipeline/store.ts';
import { cliRegistry } from './run.ts';

/**
 * The kinds `run` loaded for this folder: the study's, plus the modules its latest run recorded (when still loadable).
 */
async function importRegistry(runDir: string): Promise<KindRegistry> {
  const base = await cliRegistry();
  let recorded: string[] = [];
  try {
    const store = Store.openReadOnly(runDir);
    if (store) {
      try {
        const mods = (store.latestRun()?.options as { kindModules?: unknown } | null)?.kindModules;
        if (Array.isArray(mods))
          recorded = mods.filter((m): m is string => typeof m === 'string' && !base.modules.includes(m));
      } finally {
        store.close();
      }
    }
  } catch {
    // A damaged or foreign store is reported by importResults itself.
  }
  return base.extend(recorded).catch(() => base);
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument('<results>', 'a .json or .csv file of rows: experiment, metric, value [, model, language, replicate]')
    .description('bring in results obtained elsewhere so that experiments stand as done, labelled as imported')
    .requiredOption('--into <rundir>', 'run folder to import into')
    .option('--note <text>', 'where the results come from, e.g. "from EXP-039 v3" (or "note" in the JSON file)')
    .action(async (file: string, o: { into: string; note?: string }) => {
      const { rows, note } = readResultsFile(resolve(file));
      const runDir = resolve(o.into);
      const r = importResults(runDir, rows, o.note ?? note ?? '', await importRegistry(runDir));
      for (const e of r.experiments) {
        const c =
          e.consistency && e.consistency.total > 1
            ? `, ${e.consistency.agreeing}/${e.consistency.total} replicates consistent`
            : '';
        process.stdout.write(
          `imported ${e.id}: ${e.metrics} metric(s) in ${e.replicates} replicate(s) — ${r.note}${c}${e.status === 'failed' ? ` — failed: ${e.reason}` : ''}\n`,
        );
      }
    });
}
