// Per-text and per-language totals and the measures derived from them (DESIGN.md §4):
//   token perplexity  PPL = exp(NLL / tokens)
//   bits per byte     BPB = NLL / (bytes · ln 2)
//   bits per char     BPC = NLL / (chars · ln 2)
// NLL is the total negative log-likelihood in nats of the scored tokens, summed in float64.
//
// The first-token decision: the first token of a text is never scored (windows.ts), yet `bytes` and
// `chars` count the WHOLE text. We choose this so that the denominator is a property of the text
// alone — the same number for every model and tokenizer on the same text, which is what makes BPB
// comparable across tokenisers (and ΔBPB a pure difference of NLLs over one fixed denominator). The
// cost is a small downward bias: the first token's bytes are in the denominator but not its NLL in
// the numerator (one token per text; aggregate texts into long units to keep it negligible).
// With a BOS put before the text (src/eval/bos.ts, the model's own convention) that bias is gone:
// the BOS is the unscored position and has no bytes, every token of the text is scored.
// Characters are Unicode code points (not UTF-16 code units, not grapheme clusters).

/** Totals of one text or of many texts summed (a language). */
export interface TextTotals {
  /** Σ NLL of the scored tokens, nats. */
  readonly nllNats: number;
  /** Number of scored tokens. */
  readonly tokens: number;
  /** UTF-8 bytes of the text(s), first token included (see above). */
  readonly bytes: number;
  /** Unicode code points of the text(s). */
  readonly chars: number;
}

export interface TextMeasures extends TextTotals {
  /** Mean NLL per scored token, nats. */
  readonly meanNll: number;
  /** exp(meanNll). */
  readonly tokenPerplexity: number;
  readonly bitsPerByte: number;
  readonly bitsPerChar: number;
}

/** UTF-8 byte length of a string. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Number of Unicode code points (a surrogate pair counts once). */
export function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low surrogate is one code point; count it at the high one.
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const prev = text.charCodeAt(i - 1);
      if (prev >= 0xd800 && prev <= 0xdbff) continue;
    }
    n++;
  }
  return n;
}

/** Totals of one text from its scored-token NLLs (or their sum) and the text itself. */
export function textTotals(text: string, nllNats: number | ArrayLike<number>, tokens?: number): TextTotals {
  let sum: number;
  let count: number;
  if (typeof nllNats === 'number') {
    if (tokens === undefined) throw new Error('textTotals: pass the token count with a summed NLL');
    sum = nllNats;
    count = tokens;
  } else {
    sum = 0;
    for (let i = 0; i < nllNats.length; i++) sum += nllNats[i];
    count = tokens ?? nllNats.length;
  }
  return { nllNats: sum, tokens: count, bytes: utf8Bytes(text), chars: codePoints(text) };
}

/** Sum of totals (texts of one language, or resampled units). */
export function sumTotals(list: Iterable<TextTotals>): TextTotals {
  let nllNats = 0;
  let tokens = 0;
  let bytes = 0;
  let chars = 0;
  for (const t of list) {
    nllNats += t.nllNats;
    tokens += t.tokens;
    bytes += t.bytes;
    chars += t.chars;
  }
  return { nllNats, tokens, bytes, chars };
}

/** exp(NLL / tokens); NaN when nothing was scored. */
export function tokenPerplexity(t: TextTotals): number {
  return t.tokens > 0 ? Math.exp(t.nllNats / t.tokens) : NaN;
}

/** NLL / (bytes · ln 2); NaN for an empty text. */
export function bitsPerByte(t: TextTotals): number {
  return t.bytes > 0 ? t.nllNats / (t.bytes * Math.LN2) : NaN;
}

/** NLL / (chars · ln 2); NaN for an empty text. */
export function bitsPerChar(t: TextTotals): number {
  return t.chars > 0 ? t.nllNats / (t.chars * Math.LN2) : NaN;
}

/** All derived measures of a total. */
export function measures(t: TextTotals): TextMeasures {
  return {
    nllNats: t.nllNats,
    tokens: t.tokens,
    bytes: t.bytes,
    chars: t.chars,
    meanNll: t.tokens > 0 ? t.nllNats / t.tokens : NaN,
    tokenPerplexity: tokenPerplexity(t),
    bitsPerByte: bitsPerByte(t),
    bitsPerChar: bitsPerChar(t),
  };
}

/** Arithmetic mean; NaN for none. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Population variance (divide by n) — e.g. the spread of perplexity across languages; NaN for none. */
export function variance(values: ArrayLike<number>): number {
  const m = mean(values);
  if (Number.isNaN(m)) return NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] - m) ** 2;
  return s / values.length;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of `sorted` (ascending) by linear interpolation between closest ranks
 * (Hyndman & Fan type 7, numpy's default). NaN for an empty array.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (q <= 0) return sorted[0];
  if (q >= 1) return sorted[n - 1];
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
