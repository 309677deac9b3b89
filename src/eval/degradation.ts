// What a treatment (quantisation, preservation) costs on a text, against the full-precision model
// on the same text and the same windows (DESIGN.md §4; the metric set of llama.cpp's perplexity
// tool with --kl-divergence):
//   ΔNLL      = NLL_q/tokens − NLL_fp/tokens              (mean nats per scored token)
//   ΔBPB      = BPB_q − BPB_fp = (NLL_q − NLL_fp) / (bytes · ln 2)      (primary measure)
//   PPL ratio − 1 = PPL_q / PPL_fp − 1 = exp(ΔNLL) − 1
//   KL        = KL(p_fp ‖ p_q) = Σ_v p_fp(v) (ln p_fp(v) − ln p_q(v)) per scored position, in nats;
//               mean and percentiles 50/90/99/max over the scored positions
//   top-1 agreement = share of scored positions where both models' argmax agree.
// Full-precision results are computed once per (model, text, windows) and kept in a byte-bounded
// in-memory cache; when the log-probabilities of a text do not fit the budget, only the NLL and
// top-1 are cached and the full-precision model is run again window by window next to the treated
// one (memory stays one window's [T−1, V] rows per model). With an on-disk score cache
// (score-cache.ts) the cache decides instead: see compareCached.

import { createHash } from 'node:crypto';
import { DataError } from '../errors.ts';
import type { Engine } from '../engine/types.ts';
import {
  mean,
  measures,
  quantileSorted,
  sumTotals,
  textTotals,
  type TextMeasures,
  type TextTotals,
} from './metrics.ts';
import { scoreWindows, type WindowScores } from './score.ts';
import { engineIdentity, unitKey, type ScoreCache, type UnitScores } from './score-cache.ts';
import { resolveWindowOptions, type WindowOptions } from './windows.ts';

/** Full-precision results for one text, as cached. */
export interface ReferenceScores {
  /** NLL of targets ids[1..N−1], nats. [N−1] */
  readonly nll: Float64Array;
  /** Top-1 prediction for each target. [N−1] */
  readonly top1: Int32Array;
  /** Log-probability rows for each target, when they fitted the cache budget. [N−1, vocab] */
  readonly logProbs?: Float32Array;
  readonly vocab: number;
}

/** A byte-bounded, least-recently-used cache of full-precision results keyed by model + text. */
export class ReferenceCache {
  private readonly entries = new Map<string, ReferenceScores>();
  private bytes = 0;

  /** @param maxBytes budget for everything held (default 512 MiB). */
  constructor(readonly maxBytes = 512 * 1024 * 1024) {}

  /** Bytes held now. */
  get size(): number {
    return this.bytes;
  }

  get(key: string): ReferenceScores | undefined {
    const e = this.entries.get(key);
    if (e) {
      // Refresh its place in the LRU order.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  /** Whether an entry of this many bytes can be held at all. */
  fits(bytes: number): boolean {
    return bytes <= this.maxBytes;
  }

  set(key: string, value: ReferenceScores): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= entryBytes(old);
    }
    let v = value;
    // keep the cheap part
    if (!this.fits(entryBytes(v)) && v.logProbs) v = { nll: v.nll, top1: v.top1, vocab: v.vocab };
    const need = entryBytes(v);
    if (!this.fits(need)) return;
    for (const [k, e] of this.entries) {
      if (this.bytes + need <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= entryBytes(e);
    }
    this.entries.set(key, v);
    this.bytes += need;
  }
}

function entryBytes(e: ReferenceScores): number {
  return e.nll.byteLength + e.top1.byteLength + (e.logProbs?.byteLength ?? 0);
}

/** Cache key of a text for one model: the model's key, the windows, and a hash of the ids. */
export function referenceKey(modelKey: string, ids: ArrayLike<number>, opts: WindowOptions): string {
  const { context, stride } = resolveWindowOptions(opts);
  const h = createHash('sha256');
  const buf = Int32Array.from(ids);
  h.update(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  return `${modelKey}|K=${context}|S=${stride}|${h.digest('hex')}`;
}

// KL(p ‖ q) of two log-probability rows: in the kernels, where the engines compute it.
export { klDivergence } from '../kernels/softmax.ts';

/** The comparison of one text: totals of both models and per-position KL and agreement. */
export interface TextComparison {
  readonly fp: TextTotals;
  readonly q: TextTotals;
  /** KL(p_fp ‖ p_q) at each scored position, nats; empty when KL was not asked for. [tokens] */
  readonly kl: Float64Array;
  /** Scored positions where the two models' top-1 predictions agree. */
  readonly top1Agree: number;
}

export interface CompareOptions extends WindowOptions {
  /** The full-precision model's engine. */
  readonly reference: Engine;
  /** The treated (e.g. quantised) model's engine. */
  readonly treated: Engine;
  /** Token ids of the text. */
  readonly ids: ArrayLike<number>;
  /** The text itself (for bytes and characters). */
  readonly text: string;
  /** Compute KL divergence (needs full log-probabilities from both engines). Default true. */
  readonly kl?: boolean;
  /** Cache of full-precision results, and the key naming the full-precision model in it. */
  readonly cache?: ReferenceCache;
  readonly modelKey?: string;
  /** The text in words, for errors ("unit art_1 of swh"); default "the text". */
  readonly sequence?: string;
  /**
   * The on-disk per-unit score cache (score-cache.ts): both models' scores and the KL are read from it
   * when there and written to it when computed; the in-memory `cache` is then not used.
   */
  readonly scores?: CompareCache;
}

/** Where compareOnText finds and keeps per-unit scores, and what identifies the two models in it. */
export interface CompareCache {
  readonly cache: ScoreCache;
  /** Fingerprints of the full-precision model and of the treated model as scored. */
  readonly referenceModel: string;
  readonly treatedModel: string;
  /** Identity of the tokenizer that made the ids, and the BOS id prepended (or null). */
  readonly tokenizer: string;
  readonly bos: number | null;
}

/** Scores one text with both models on the same windows and compares them position by position. */
export async function compareOnText(o: CompareOptions): Promise<TextComparison> {
  const wantKl = o.kl !== false;
  const n = o.ids.length;
  const seq = o.sequence ?? 'the text';
  const fpOpts = { ...o, wantLogProbs: wantKl, sequence: `${seq} (full-precision model)` };
  // The treated engine computes KL itself against the full-precision rows of each window.
  const qOpts = { ...o, sequence: `${seq} (treated model)` };
  if (n < 2) {
    throw new DataError(
      `a text of ${n} token${n === 1 ? '' : 's'} has nothing to compare: the first token is never scored, so at least 2 tokens are needed; use a longer text`,
    );
  }
  if (o.scores) return compareCached(o, o.scores);
  const key = o.cache && o.modelKey !== undefined ? referenceKey(o.modelKey, o.ids, o) : undefined;
  const ref = key ? o.cache!.get(key) : undefined;
  // Cached NLLs without log-probabilities are enough when KL is not asked for.
  const refUsable = ref !== undefined && (!wantKl || ref.logProbs !== undefined);

  const kl = new Float64Array(wantKl ? n - 1 : 0);
  let top1Agree = 0;
  let qSum = 0;
  let fpSum = 0;

  if (refUsable) {
    const r = ref!;
    // The cached rows of the window's scored targets: rows firstTarget−1 … of the text.
    const klReference = wantKl
      ? (w: { firstTarget: number; count: number }) =>
          r.logProbs!.subarray((w.firstTarget - 1) * r.vocab, (w.firstTarget - 1 + w.count) * r.vocab)
      : undefined;
    for await (const w of scoreWindows(o.treated, o.ids, { ...qOpts, klReference })) {
      for (let j = 0; j < w.count; j++) {
        const i = w.firstTarget - 1 + j;
        qSum += w.nll[j];
        fpSum += r.nll[i];
        if (w.top1[j] === r.top1[i]) top1Agree++;
        if (wantKl) kl[i] = w.kl![j];
      }
    }
  } else {
    // Run both models window by window; keep the full-precision rows only if the cache can hold them.
    const fpNll = new Float64Array(n - 1);
    const fpTop1 = new Int32Array(n - 1);
    let fpLogProbs: Float32Array | undefined;
    let vocab = 0;
    let keepRows = false;
    const fpIter = scoreWindows(o.reference, o.ids, fpOpts);
    // Each full-precision window is run first; the treated one then compares with its rows.
    let fw: WindowScores | undefined;
    const qIter = scoreWindows(o.treated, o.ids, { ...qOpts, klReference: wantKl ? () => fw!.logProbs! : undefined });
    for (;;) {
      const a = await fpIter.next();
      fw = a.done ? undefined : a.value;
      const b = await qIter.next();
      if (!fw || b.done) {
        if (!fw !== Boolean(b.done)) throw new Error('compareOnText: the two engines produced different window counts');
        break;
      }
      const qw: WindowScores = b.value;
      if (wantKl && fpLogProbs === undefined && fw.index === 0) {
        vocab = fw.vocab;
        keepRows = key !== undefined && o.cache!.fits((n - 1) * vocab * 4);
        if (keepRows) fpLogProbs = new Float32Array((n - 1) * vocab);
      }
      for (let j = 0; j < fw.count; j++) {
        const i = fw.firstTarget - 1 + j;
        fpNll[i] = fw.nll[j];
        fpTop1[i] = fw.top1[j];
        fpSum += fw.nll[j];
        qSum += qw.nll[j];
        if (fw.top1[j] === qw.top1[j]) top1Agree++;
        if (wantKl) kl[i] = qw.kl![j];
      }
      if (fpLogProbs && fw.logProbs) fpLogProbs.set(fw.logProbs, (fw.firstTarget - 1) * vocab);
    }
    if (key) o.cache!.set(key, { nll: fpNll, top1: fpTop1, logProbs: fpLogProbs, vocab });
  }
  return {
    fp: textTotals(o.text, fpSum, n - 1),
    q: textTotals(o.text, qSum, n - 1),
    kl,
    top1Agree,
  };
}

/** Scores of one model on one unit, accumulated window by window (as a cache entry holds them). */
class ScoresAccumulator {
  nllSum = 0;
  readonly top1: Int32Array;
  readonly hidden: Float32Array[] = [];
  constructor(readonly count: number) {
    this.top1 = new Int32Array(count);
  }
  add(w: WindowScores): void {
    for (let j = 0; j < w.count; j++) {
      this.nllSum += w.nll[j];
      this.top1[w.firstTarget - 1 + j] = w.top1[j];
    }
    if (w.hidden) this.hidden.push(w.hidden);
  }
  scores(): UnitScores {
    const hidden = this.hidden.length ? this.hidden : undefined;
    return { nllSum: this.nllSum, count: this.count, top1: this.top1, hidden };
  }
}

/**
 * compareOnText through the on-disk cache: each model's scores and the KL come from the cache when
 * there; what is missing is computed window by window — the full-precision side by its head alone
 * when only its log-probabilities are missing and its hidden states are cached — and written back.
 * Sums run in the same order as the uncached path, so the results are identical.
 */
async function compareCached(o: CompareOptions, s: CompareCache): Promise<TextComparison> {
  const wantKl = o.kl !== false;
  const n = o.ids.length;
  const seq = o.sequence ?? 'the text';
  const unit = { ids: o.ids, text: o.text, tokenizer: s.tokenizer, bos: s.bos };
  const fpKey = unitKey(s.referenceModel, o.reference, o, unit);
  const qKey = unitKey(s.treatedModel, o.treated, o, unit);
  const refId = { model: s.referenceModel, engine: engineIdentity(o.reference) };
  let kl = wantKl ? s.cache.getKl(qKey, refId) : undefined;
  const needKl = wantKl && kl === undefined;
  let fp = s.cache.getScores(fpKey, { hidden: needKl });
  let q = s.cache.getScores(qKey);
  // The full-precision log-probabilities from its head alone, when its hidden states are cached; that
  // head run inside the treated engine when it can (klHeadOf): the rows then never leave onnxruntime.
  const fpHeadOnly = needKl && fp?.hidden !== undefined && o.reference.head !== undefined;
  const fpHeadInTreated = fpHeadOnly && o.treated.klHeadOf === o.reference;
  const runFp = fp === undefined || (needKl && !fpHeadOnly);
  const runQ = q === undefined || needKl;
  if (runFp || runQ) {
    const keepHidden = runFp && wantKl && o.reference.head !== undefined;
    const fpAcc = runFp ? new ScoresAccumulator(n - 1) : undefined;
    const qAcc = runQ ? new ScoresAccumulator(n - 1) : undefined;
    const klOut = new Float64Array(needKl ? n - 1 : 0);
    const fpSeq = `${seq} (full-precision model)`;
    const fpIter = runFp
      ? scoreWindows(o.reference, o.ids, { ...o, wantLogProbs: needKl, wantHidden: keepHidden, sequence: fpSeq })
      : fpHeadOnly && !fpHeadInTreated
        ? scoreWindows(o.reference, o.ids, { ...o, wantLogProbs: true, hidden: fp!.hidden, sequence: fpSeq })
        : undefined;
    const qSeq = `${seq} (treated model)`;
    // Each full-precision window is run first; the treated one then computes KL against its rows.
    let fpWindow: WindowScores | undefined;
    const klReference = needKl && !fpHeadInTreated ? () => fpWindow!.logProbs! : undefined;
    const klReferenceHidden = fpHeadInTreated ? (w: { index: number }) => fp!.hidden![w.index] : undefined;
    const qIter = runQ
      ? scoreWindows(o.treated, o.ids, { ...o, klReference, klReferenceHidden, sequence: qSeq })
      : undefined;
    for (;;) {
      const a = fpIter ? await fpIter.next() : undefined;
      fpWindow = a && !a.done ? a.value : undefined;
      const b = qIter ? await qIter.next() : undefined;
      if (a?.done || b?.done || (!a && !b)) {
        if (a && b && a.done !== b.done) {
          throw new Error('compareOnText: the two engines produced different window counts');
        }
        break;
      }
      const fw = a?.value as WindowScores | undefined;
      const qw = b?.value as WindowScores | undefined;
      if (fpHeadOnly) s.cache.stats.headOnly++;
      if (needKl) klOut.set(qw!.kl!, qw!.firstTarget - 1);
      if (fpAcc) fpAcc.add(fw!);
      if (qAcc) qAcc.add(qw!);
    }
    if (fpAcc) {
      const had = fp;
      fp = fpAcc.scores();
      // Written when new, or when it now carries the hidden states the stored one lacked.
      if (!had || (fp.hidden && !had.hidden)) s.cache.putScores(fpKey, fp);
    }
    if (qAcc && !q) {
      q = qAcc.scores();
      s.cache.putScores(qKey, q);
    }
    if (needKl) {
      kl = klOut;
      s.cache.putKl(qKey, refId, kl);
    }
  }
  let top1Agree = 0;
  for (let i = 0; i < n - 1; i++) if (fp!.top1[i] === q!.top1[i]) top1Agree++;
  return {
    fp: textTotals(o.text, fp!.nllSum, n - 1),
    q: textTotals(o.text, q!.nllSum, n - 1),
    kl: kl ?? new Float64Array(0),
    top1Agree,
  };
}

/** Degradation of a language (or any set of texts) under a treatment. */
export interface Degradation {
  readonly fp: TextMeasures;
  readonly q: TextMeasures;
  /** Mean NLL per scored token, treated − full precision, nats. */
  readonly deltaNll: number;
  /** BPB_q − BPB_fp. */
  readonly deltaBpb: number;
  /** PPL_q / PPL_fp − 1. */
  readonly pplRatioMinus1: number;
  /** KL(p_fp ‖ p_q) over scored positions: mean and percentiles (type 7 interpolation), nats. NaN without KL. */
  readonly klMean: number;
  readonly klP50: number;
  readonly klP90: number;
  readonly klP99: number;
  readonly klMax: number;
  /** Share of scored positions where the top-1 predictions agree. */
  readonly top1Agreement: number;
}

/** Degradation measures from totals alone (no KL): used by the bootstrap on resampled units. */
export function deltaMeasures(
  fp: TextTotals,
  q: TextTotals,
): { deltaNll: number; deltaBpb: number; pplRatioMinus1: number } {
  const a = measures(fp);
  const b = measures(q);
  return {
    deltaNll: b.meanNll - a.meanNll,
    deltaBpb: b.bitsPerByte - a.bitsPerByte,
    // exp(ΔNLL) − 1, computed with expm1 so that small ratios keep their digits.
    pplRatioMinus1: Math.expm1(b.meanNll - a.meanNll),
  };
}

/** Aggregates the comparisons of several texts (e.g. a language's articles) into one Degradation. */
export function summarizeDegradation(parts: readonly TextComparison[]): Degradation {
  const fp = sumTotals(parts.map((p) => p.fp));
  const q = sumTotals(parts.map((p) => p.q));
  let klCount = 0;
  for (const p of parts) klCount += p.kl.length;
  const allKl = new Float64Array(klCount);
  let off = 0;
  for (const p of parts) {
    allKl.set(p.kl, off);
    off += p.kl.length;
  }
  allKl.sort();
  let agree = 0;
  for (const p of parts) agree += p.top1Agree;
  return {
    fp: measures(fp),
    q: measures(q),
    ...deltaMeasures(fp, q),
    klMean: mean(allKl),
    klP50: quantileSorted(allKl, 0.5),
    klP90: quantileSorted(allKl, 0.9),
    klP99: quantileSorted(allKl, 0.99),
    klMax: klCount ? allKl[klCount - 1] : NaN,
    top1Agreement: fp.tokens > 0 ? agree / fp.tokens : NaN,
  };
}

/** Degradation measures that can be recomputed cheaply on a resample of units (for the bootstrap). */
export type DegradationMeasure = 'deltaNll' | 'deltaBpb' | 'pplRatioMinus1' | 'klMean' | 'klPerByte' | 'top1Agreement';

export const DEGRADATION_MEASURES: readonly DegradationMeasure[] = [
  'deltaNll',
  'deltaBpb',
  'pplRatioMinus1',
  'klMean',
  'klPerByte',
  'top1Agreement',
];

/**
 * KL per byte of a set of units: Σ KL(p_fp ‖ p_q) over their scored positions / (bytes · ln 2), in
 * bits per byte — the second measure of degradation beside ΔBPB. Unlike ΔBPB it is never negative
 * (a treated model cannot "beat" full precision by luck), and on the same denominator (the text's
 * bytes) it compares across tokenisers. NaN when KL was not measured (a unit without KL values).
 */
export function klPerByte(units: readonly TextComparison[]): number {
  let s = 0;
  let bytes = 0;
  for (const u of units) {
    const kl = u.kl;
    if (kl.length === 0 && u.fp.tokens > 0) return NaN;
    for (let i = 0, n = kl.length; i < n; i++) s += kl[i];
    bytes += u.fp.bytes;
  }
  return bytes > 0 ? s / (bytes * Math.LN2) : NaN;
}

/**
 * The statistic `measure` of a sample of units (duplicates allowed), computed from summed totals —
 * the function to hand to `bootstrap` or to `disparityRatio` as `degradation`. KL percentiles are
 * not offered here: they need every position's value and are reported without an interval.
 */
export function degradationStatistic(measure: DegradationMeasure): (units: readonly TextComparison[]) => number {
  switch (measure) {
    case 'deltaNll':
    case 'deltaBpb':
    case 'pplRatioMinus1':
      return (units) => deltaMeasures(sumTotals(units.map((u) => u.fp)), sumTotals(units.map((u) => u.q)))[measure];
    case 'klMean':
      return (units) => {
        let s = 0;
        let n = 0;
        for (const u of units) {
          const kl = u.kl;
          for (let i = 0, m = kl.length; i < m; i++) s += kl[i];
          n += kl.length;
        }
        return n ? s / n : NaN;
      };
    case 'klPerByte':
      return klPerByte;
    case 'top1Agreement':
      return (units) => {
        let a = 0;
        let n = 0;
        for (const u of units) {
          a += u.top1Agree;
          n += u.fp.tokens;
        }
        return n ? a / n : NaN;
      };
  }
}
