// Scores a text's token ids with an Engine through sliding windows (windows.ts): per-scored-token
// negative log-likelihood in nats, the model's top-1 prediction at each scored position, and — only
// when asked — the scored rows of the log-probability matrix, streamed one window at a time so that
// memory stays bounded by one window's [T−1, V] rows whatever the text's length.
// Every NLL an engine returns is checked: a NaN or ±Inf (a model whose activations overflow, an engine
// fault) is a NonFiniteError naming the sequence and the token, never a number passed on. Checking the
// NLL covers the logits that matter: a NaN anywhere in a row, or a +Inf, makes the row's log-sum-exp
// and so its NLL non-finite; a −Inf logit elsewhere in the row is a probability of 0 and harmless.
// Reference: DESIGN.md §4 (scoring convention); sums in float64 as llama.cpp's perplexity tool does.

import { DataError, NonFiniteError } from '../errors.ts';
import type { Engine } from '../engine/types.ts';
import { slidingWindows, type WindowOptions } from './windows.ts';

export interface ScoreOptions extends WindowOptions {
  /** Ask the engine for log-probabilities and hand the scored rows to `onLogProbs`. */
  readonly wantLogProbs?: boolean;
  /**
   * Called once per window, in order, with the log-probability rows of that window's scored targets:
   * `rows` is [count, V] row-major, row r predicts ids[firstTarget + r]. The buffer may be reused
   * after the call returns; copy what you keep.
   */
  readonly onLogProbs?: (firstTarget: number, rows: Float32Array, count: number, vocab: number) => void | Promise<void>;
  /** Progress: windows done out of total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** The sequence in words, for errors ("text file a.txt", "unit art_1 of swh"); default "the text". */
  readonly sequence?: string;
}

export interface TokenScores {
  /** nll[i] = −ln p(ids[i+1] | ids[start..i]) in nats, i = 0..N−2 (entry i scores target id i+1). [N−1] */
  readonly nll: Float64Array;
  /** Top-1 prediction at the position that scores target i+1 (argmax of its logits). [N−1] */
  readonly top1: Int32Array;
  /** Targets, ids[1..N−1], for top-1 accuracy. [N−1] */
  readonly targets: Int32Array;
  /** Number of scored tokens (N − 1). */
  readonly count: number;
  /** Σ nll, accumulated in float64. */
  readonly nllSum: number;
  /** Number of windows run. */
  readonly windows: number;
}

/** What one window contributes: the scored targets ids[firstTarget, firstTarget+count). */
export interface WindowScores {
  /** Index of the window (0-based) and the total number of windows. */
  readonly index: number;
  readonly total: number;
  /** Absolute index of the first scored target id (≥ 1). */
  readonly firstTarget: number;
  /** Number of scored targets in this window. */
  readonly count: number;
  /** NLL of each scored target, nats. [count] */
  readonly nll: Float64Array;
  /** Top-1 prediction at the position that scores each target. [count] */
  readonly top1: Int32Array;
  /** Log-probability rows predicting each scored target, when asked. [count, vocab] */
  readonly logProbs?: Float32Array;
  /** Vocabulary size (row width of logProbs); 0 when log-probabilities were not asked for. */
  readonly vocab: number;
  /** The whole window's head input [T, H] (every position, scored or not), when asked (`wantHidden`). */
  readonly hidden?: Float32Array;
  /** KL(p_ref ‖ p_this) at each scored target, nats, when a reference was given (`klReference`). [count] */
  readonly kl?: Float64Array;
}

/** How scoreWindows runs the engine beyond the windows. */
export interface WindowRunOptions extends WindowOptions {
  readonly wantLogProbs?: boolean;
  readonly sequence?: string;
  /** Also return each window's head input (`WindowScores.hidden`); the engine must offer `head`. */
  readonly wantHidden?: boolean;
  /**
   * Head inputs of every window from an earlier `wantHidden` run of the same engine and model (one
   * array per window, in order): only the engine's head is run, with the same results.
   */
  readonly hidden?: readonly Float32Array[];
  /**
   * Another model's log-probability rows for the scored targets of a window ([count, V]: targets
   * firstTarget … firstTarget+count−1, as its own scoreWindows yielded them with `wantLogProbs`), asked
   * for just before that window is run: the engine then returns KL(p_ref ‖ p_this) at each scored
   * target (`WindowScores.kl`).
   */
  readonly klReference?: (window: { index: number; firstTarget: number; count: number }) => Float32Array;
  /**
   * Or, for an engine with `klHeadOf`: that engine's head input for the whole window ([T, H_ref], as its
   * own scoreWindows yielded it with `wantHidden`); the engine runs that head itself for the KL.
   */
  readonly klReferenceHidden?: (window: { index: number }) => Float32Array;
}

/** Checks that a text is long enough to score; returns its ids as an Int32Array. */
function asIds(ids: ArrayLike<number>): Int32Array {
  const n = ids.length;
  if (n < 2) {
    throw new DataError(
      `a text of ${n} token${n === 1 ? '' : 's'} has nothing to score: the first token is never scored, so at least 2 tokens are needed; use a longer text`,
    );
  }
  return Int32Array.from(ids);
}

/** Where a scored NLL came from, for the error a non-finite one raises. */
export interface NllSite {
  /** The sequence in words ("text file a.txt", "unit art_1 of swh", "sequence 3 of ids.json"). */
  readonly sequence: string;
  /** Token index in the sequence that nll[0] scores (≥ 1). */
  readonly firstTarget: number;
  /** Engine name, and the window (0-based index, total) when the sequence was split into windows. */
  readonly engine: string;
  readonly window?: { readonly index: number; readonly total: number };
}

/** Throws NonFiniteError at the first NaN or ±Inf in `nll` (a window's or a sequence's NLLs). */
export function checkNll(nll: ArrayLike<number>, site: NllSite): void {
  for (let r = 0; r < nll.length; r++) {
    if (Number.isFinite(nll[r])) continue;
    const position = site.firstTarget + r;
    const win = site.window && site.window.total > 1 ? `, window ${site.window.index + 1} of ${site.window.total}` : '';
    throw new NonFiniteError(
      `the ${site.engine} engine gave a non-finite NLL (${nll[r]}) for token ${position} of ${site.sequence}${win}: the model's logits overflow (huge weights?) or the engine failed — check the weights with \`langquant inspect --check\`${site.engine === 'ort' ? ', or try the reference engine' : ''}`,
      site.sequence,
      position,
    );
  }
}

/**
 * Runs the engine over the windows of `ids` and yields, window by window, the scored targets only
 * (each id after the first appears in exactly one yielded window). Memory: one window at a time.
 */
export async function* scoreWindows(
  engine: Engine,
  ids: ArrayLike<number>,
  opts: WindowRunOptions,
): AsyncGenerator<WindowScores> {
  const all = asIds(ids);
  const windows = slidingWindows(all.length, opts);
  const want = opts.wantLogProbs === true;
  if ((opts.hidden || opts.wantHidden) && !engine.head) {
    throw new Error(`engine ${engine.name} cannot run its head alone`);
  }
  if (opts.hidden && opts.hidden.length !== windows.length) {
    throw new Error(`scoreWindows: ${opts.hidden.length} hidden-state windows for a text of ${windows.length}`);
  }
  for (let w = 0; w < windows.length; w++) {
    const { start, end, scoreFrom } = windows[w];
    const T = end - start;
    const win = all.subarray(start, end);
    // Window-local position p predicts absolute id start+p+1; the scored targets scoreFrom..end−1
    // are local positions p0 = scoreFrom−start−1 .. T−2.
    const p0 = scoreFrom - start - 1;
    const klReference = opts.klReference
      ? { rows: opts.klReference({ index: w, firstTarget: scoreFrom, count: T - 1 - p0 }), from: p0 }
      : undefined;
    const klReferenceHidden = opts.klReferenceHidden
      ? { hidden: opts.klReferenceHidden({ index: w }), from: p0 }
      : undefined;
    if (klReferenceHidden && opts.hidden)
      throw new Error('scoreWindows: klReferenceHidden needs the engine’s body run');
    const res = opts.hidden
      ? await engine.head!({ ids: win, hidden: opts.hidden[w], wantLogProbs: want, klReference })
      : await engine.score({
          ids: win,
          wantLogProbs: want,
          wantHidden: opts.wantHidden,
          klReference,
          klReferenceHidden,
        });
    if (opts.wantHidden && !opts.hidden && res.hidden?.length !== T * (engine.hiddenWidth ?? NaN)) {
      throw new Error(`engine ${engine.name} returned no hidden states of ${T}×${engine.hiddenWidth} when asked`);
    }
    if (res.nll.length !== T - 1 || res.top1.length !== T - 1) {
      throw new Error(
        `engine ${engine.name} returned ${res.nll.length} NLL values for a window of ${T} ids (expected ${T - 1})`,
      );
    }
    if ((klReference || klReferenceHidden) && res.kl?.length !== T - 1 - p0) {
      throw new Error(`engine ${engine.name} returned no KL for the ${T - 1 - p0} scored targets when asked`);
    }
    const nll = res.nll.subarray(p0, T - 1);
    checkNll(nll, {
      sequence: opts.sequence ?? 'the text',
      firstTarget: scoreFrom,
      engine: engine.name,
      window: { index: w, total: windows.length },
    });
    let logProbs: Float32Array | undefined;
    let vocab = 0;
    if (want) {
      if (!res.logProbs) throw new Error(`engine ${engine.name} did not return log-probabilities when asked`);
      vocab = res.logProbs.length / (T - 1);
      logProbs = res.logProbs.subarray(p0 * vocab, (T - 1) * vocab);
    }
    yield {
      index: w,
      total: windows.length,
      firstTarget: scoreFrom,
      count: T - 1 - p0,
      nll,
      top1: res.top1.subarray(p0, T - 1),
      logProbs,
      vocab,
      hidden: opts.wantHidden ? (res.hidden ?? opts.hidden?.[w]) : undefined,
      kl: res.kl,
    };
  }
}

/** Scores every id after the first exactly once (see windows.ts) and returns per-token results. */
export async function scoreTokens(engine: Engine, ids: ArrayLike<number>, opts: ScoreOptions): Promise<TokenScores> {
  const all = asIds(ids);
  const n = all.length;
  const nll = new Float64Array(n - 1);
  const top1 = new Int32Array(n - 1);
  let nllSum = 0;
  let windows = 0;
  const want = opts.wantLogProbs === true || opts.onLogProbs !== undefined;
  for await (const w of scoreWindows(engine, all, { ...opts, wantLogProbs: want })) {
    const off = w.firstTarget - 1; // entry i of nll scores target id i+1
    for (let r = 0; r < w.count; r++) {
      nll[off + r] = w.nll[r];
      top1[off + r] = w.top1[r];
      nllSum += w.nll[r];
    }
    if (opts.onLogProbs && w.logProbs) await opts.onLogProbs(w.firstTarget, w.logProbs, w.count, w.vocab);
    windows++;
    opts.onProgress?.(w.index + 1, w.total);
  }
  return { nll, top1, targets: all.slice(1), count: n - 1, nllSum, windows };
}

/** Fraction of scored positions whose top-1 prediction is the actual next id. */
export function top1Accuracy(s: TokenScores): number {
  let hit = 0;
  for (let i = 0; i < s.count; i++) if (s.top1[i] === s.targets[i]) hit++;
  return s.count === 0 ? NaN : hit / s.count;
}
