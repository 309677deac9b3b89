// Calibration statistics for activation-aware and Hessian preservation: diag(XᵀX) of every block
// linear's inputs over the calibration split of the chosen languages (high, low, all, or a list),
// cached in the run folder's cache (keyed by the model's content hash, the unit ids, the languages
// and the limits) so that B-001..B-003 and C-002 collect them once.
// Reference: DESIGN.md §5 (calibration text chosen by language); src/quant/calibrate.ts.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ActivationStats } from '../quant/preserve.ts';
import { collectActivationStatsFast, statsFromJSON, statsToJSON } from '../quant/calibrate.ts';
import type { KindContext } from '../pipeline/kind.ts';
import { calibrationSequences, type StudyTexts } from './texts.ts';
import type { OpenModel } from './compare.ts';

export const CalibrationParams = {
  /** Calibration languages: a group name (high, low), all, or a list of codes. */
  calibration: z.union([z.enum(['all', 'high', 'low']), z.array(z.string()).min(1)]).default('all'),
  /** Most calibration tokens in all (shared fairly between languages). */
  calibrationTokens: z.number().int().min(16).default(8192),
};

export function calibrationLanguages(t: StudyTexts, which: 'all' | 'high' | 'low' | string[]): string[] {
  if (Array.isArray(which)) return which;
  return which === 'all' ? t.langs.all : t.langs[which];
}

/** The statistics, from the cache when another experiment of the run folder already collected them. */
export async function calibrationStats(
  ctx: Pick<KindContext<unknown>, 'cacheDir' | 'log'>,
  m: OpenModel,
  t: StudyTexts,
  langs: readonly string[],
  maxTokens: number,
): Promise<ActivationStats> {
  const key = createHash('sha256')
    // The BOS joins the key only when one is prepended, so caches written before params.bos stay valid.
    .update(
      JSON.stringify({
        v: 1,
        model: m.key,
        corpus: t.corpus.name,
        langs,
        ids: t.calibration,
        maxTokens,
        context: m.window.context,
        ...(m.bos.id !== null ? { bos: m.bos.id } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 32);
  const dir = join(ctx.cacheDir, 'calibration');
  const file = join(dir, `${key}.json`);
  if (existsSync(file)) {
    try {
      return statsFromJSON(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      // A damaged cache file (e.g. a crash mid-write on a filesystem without atomic rename) is recomputed.
    }
  }
  const seqs = calibrationSequences(t.corpus, langs, t.calibration, m.tokenizer, m.bos);
  // On the engine the experiment scores with (onnxruntime's graph, or the reference forward).
  const engine = m.engine.name;
  const stats = await collectActivationStatsFast(m.model, seqs, { maxTokens, context: m.window.context, engine });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(statsToJSON(stats)));
  renameSync(tmp, file);
  ctx.log(`calibration: ${stats.tokens} tokens of ${langs.join(', ')}`);
  return stats;
}
