// The study's per-unit artifact (units.json, written by A-002 and read by A-003 and B-011): every
// unit's comparison totals, so later experiments recompute statistics without rerunning models.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TextTotals } from '../eval/metrics.ts';
import { DataError } from '../errors.ts';
import type { KindContext } from '../pipeline/kind.ts';
import type { Comparisons } from './compare.ts';

// ---------------------------------------------------------------- per-unit artifact (A-002 → A-003)

export const UNITS_FILE = 'units.json';

interface UnitRecord {
  lang: string;
  id: string;
  fp: TextTotals;
  q: TextTotals;
  top1Agree: number;
  klSum: number;
  klCount: number;
}

/** Writes the per-unit comparisons as the replicate's units.json artifact (read by A-003 and B-011). */
export function writeUnits(ctx: Pick<KindContext<unknown>, 'workDir' | 'artifact'>, c: Comparisons): void {
  const file = join(ctx.workDir, UNITS_FILE);
  writeFileSync(file, JSON.stringify(comparisonsToJson(c)));
  ctx.artifact(file);
}

/** Per-unit totals of a comparison, for experiments that recompute statistics without rerunning models. */
export function comparisonsToJson(c: Comparisons): { format: 1; units: UnitRecord[] } {
  const units: UnitRecord[] = [];
  for (const [lang, m] of c) {
    for (const [id, u] of m) {
      let klSum = 0;
      for (let i = 0; i < u.kl.length; i++) klSum += u.kl[i];
      units.push({ lang, id, fp: u.fp, q: u.q, top1Agree: u.top1Agree, klSum, klCount: u.kl.length });
    }
  }
  return { format: 1, units };
}

/** Back from JSON; KL survives only as its per-unit mean (spread over the unit's positions). */
export function comparisonsFromJson(j: { format: number; units: UnitRecord[] }): Comparisons {
  if (j.format !== 1)
    throw new DataError(
      `per-unit results of format ${j.format} are not readable by this version; rerun the experiment that wrote them`,
    );
  const out: Comparisons = new Map();
  for (const u of j.units) {
    if (!out.has(u.lang)) out.set(u.lang, new Map());
    const kl = new Float64Array(u.klCount).fill(u.klCount ? u.klSum / u.klCount : 0);
    out.get(u.lang)!.set(u.id, { fp: u.fp, q: u.q, top1Agree: u.top1Agree, kl });
  }
  return out;
}
