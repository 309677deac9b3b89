// One text scored the way `langquant perplexity --text` scores it: tokenised by the model's
// tokenizer, a BOS put first as the BOS plan says (bos.ts), sliding windows (windows.ts), totals in
// float64 and the measures of metrics.ts. The library's `scoreText`.

import type { Engine } from '../engine/types.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';
import { encodeWithBos, resolveBos, type BosMode, type BosPlan } from './bos.ts';
import { measures, textTotals, type TextMeasures, type TextTotals } from './metrics.ts';
import { scoreTokens } from './score.ts';
import { resolveWindowOptions } from './windows.ts';

export interface ScoreTextOptions {
  /** K: most ids in one window (default 1024, or less: pass the model's positions). */
  readonly context?: number;
  /** S: window advance (default ⌊K/2⌋). */
  readonly stride?: number;
  /** BOS convention (default auto: as the tokenizer's files say). */
  readonly bos?: BosMode;
}

export interface TextScore extends TextMeasures {
  /** The BOS put before the text, and why. */
  readonly bos: BosPlan;
  /** Windows run. */
  readonly windows: number;
}

/** Scores one text's ids; fewer than 2 ids leave nothing scored (the text's bytes still count). */
export async function scoreTextIds(
  engine: Engine,
  ids: readonly number[],
  text: string,
  win: { context: number; stride: number },
  sequence = 'the text',
): Promise<{ totals: TextTotals; windows: number }> {
  if (ids.length < 2) return { totals: textTotals(text, 0, 0), windows: 0 };
  // `sequence` names the text in the error a non-finite NLL raises (score.ts).
  const s = await scoreTokens(engine, ids, { ...win, sequence });
  return { totals: textTotals(text, s.nllSum, s.count), windows: s.windows };
}

/** Token perplexity, bits per byte and per character of `text` under the engine's model. */
export async function scoreText(
  engine: Engine,
  tokenizer: TextTokenizer,
  text: string,
  opts: ScoreTextOptions = {},
): Promise<TextScore> {
  const plan = resolveBos(tokenizer, opts.bos ?? 'auto', 'bos');
  const win = resolveWindowOptions({ context: opts.context ?? 1024, stride: opts.stride });
  const { totals, windows } = await scoreTextIds(engine, encodeWithBos(tokenizer, text, plan), text, win);
  return { ...measures(totals), bos: plan, windows };
}
