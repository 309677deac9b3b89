// Sliding windows for scoring a text longer than the model's context (DESIGN.md §4).
// Reference: the strided evaluation of the Hugging Face "Perplexity of fixed-length models" guide
// and llama.cpp's `perplexity` tool, with one difference made explicit: consecutive windows must
// overlap by at least one token, so that every token after the first is scored exactly once.
//
// Convention. A text of N token ids is covered by windows of at most K ids (the context) whose
// starts advance by S (the stride, 1 ≤ S ≤ K−1, default ⌊K/2⌋). Window j holds ids[jS, min(jS+K, N)).
// Position t of a window predicts the id at t+1, so a window of length T can score its last T−1 ids.
// Each id is scored by the first window in which it is not part of the overlap with the previous
// window: window 0 scores ids 1..end₀−1; window j scores ids end_{j−1}..end_j−1. So every id i ≥ 1
// is scored exactly once, id 0 is never scored, and an id scored by window j ≥ 1 sees at least K−S
// ids of context. Windows stop once one reaches the end of the text.
// When a BOS token is put before the text (src/eval/bos.ts), it is id 0 here: the BOS is the
// unscored context and every token of the text is scored.

import { ConfigError } from '../errors.ts';

/** One window: ids[start, end) go through the model; targets ids[scoreFrom, end) are scored. */
export interface Window {
  /** First id in the window (absolute index into the text's ids). */
  readonly start: number;
  /** One past the last id in the window. end − start ≤ context. */
  readonly end: number;
  /** First scored target (absolute index); start < scoreFrom ≤ end. Targets scoreFrom..end−1 are scored. */
  readonly scoreFrom: number;
}

export interface WindowOptions {
  /** K: most ids in one window (≥ 2). */
  readonly context: number;
  /** S: how far each window's start advances (1 ≤ S ≤ K−1). Default ⌊K/2⌋. */
  readonly stride?: number;
}

/** The stride used when none is given: half the context, rounded down (at least 1). */
export function defaultStride(context: number): number {
  return Math.max(1, Math.floor(context / 2));
}

/** Checks context and stride; returns the stride to use. Throws ConfigError with what to do. */
export function resolveWindowOptions(opts: WindowOptions): { context: number; stride: number } {
  const { context } = opts;
  if (!Number.isInteger(context) || context < 2) {
    throw new ConfigError(
      `context ${context} is too small: a window needs at least 2 tokens (one to read, one to predict); pass --context 2 or more`,
    );
  }
  const stride = opts.stride ?? defaultStride(context);
  if (!Number.isInteger(stride) || stride < 1) {
    throw new ConfigError(
      `stride ${stride} is not a positive whole number; pass --stride between 1 and ${context - 1}`,
    );
  }
  if (stride >= context) {
    // With S = K the windows would not overlap and the first id of each window could not be
    // scored (it has no predecessor in its window); the convention is "every id scored once".
    throw new ConfigError(
      `stride ${stride} must be smaller than the context ${context} so that consecutive windows overlap by at least one token; pass --stride between 1 and ${context - 1} (default ${defaultStride(context)})`,
    );
  }
  return { context, stride };
}

/**
 * The windows that score a text of `n` ids once each (see the convention at the top of this file).
 * n < 2 gives no windows (nothing to score).
 */
export function slidingWindows(n: number, opts: WindowOptions): Window[] {
  const { context, stride } = resolveWindowOptions(opts);
  if (!Number.isInteger(n) || n < 0) throw new Error(`slidingWindows: bad length ${n}`);
  const out: Window[] = [];
  if (n < 2) return out;
  let prevEnd = 1; // id 0 is never scored
  for (let start = 0; ; start += stride) {
    const end = Math.min(start + context, n);
    out.push({ start, end, scoreFrom: prevEnd });
    if (end === n) break;
    prevEnd = end;
  }
  return out;
}

/** Number of ids a text of `n` ids has scored: n − 1 (the first id is never scored), 0 if n < 2. */
export function scoredCount(n: number): number {
  return Math.max(0, n - 1);
}

/**
 * One sentence describing the convention, printed next to every result. With `bos` (a BOS token is
 * put before each text: src/eval/bos.ts) the unscored first id is that BOS, not a token of the text.
 */
export function describeConvention(opts: WindowOptions, bos = false): string {
  const { context, stride } = resolveWindowOptions(opts);
  return (
    `Scoring: windows of ${context} tokens advancing by ${stride}; each token is scored once, by the first window ` +
    `in which it is not part of the overlap with the previous window (so with at least ${context - stride} tokens of ` +
    `context after the first window); ` +
    (bos
      ? `the first id of each sequence, the BOS put before the text, is never scored, so every token of the text is.`
      : `the first token of each text is never scored.`)
  );
}
