// Byte-level BPE tokenizer trainer, GPT-2 style (Radford et al. 2019, "Language Models are
// Unsupervised Multitask Learners", §2.2; Sennrich et al. 2016 for BPE). Text is split by GPT-2's
// pre-tokenisation regex, each piece is mapped byte by byte onto GPT-2's printable byte alphabet
// (bytes_to_unicode), and the most frequent adjacent symbol pair is merged until the vocabulary
// reaches its target size. The result is written as a Hugging Face `tokenizer.json` (model BPE,
// ByteLevel pre-tokenizer/decoder) that `@huggingface/tokenizers` and transformers load as is.
//
// Determinism: ties between equally frequent pairs are broken by the smaller (left id, right id);
// ids are assigned in merge order after the 256 byte symbols (id = byte value), and the special
// token `<|endoftext|>` takes the last id.

/** GPT-2's pre-tokenisation pattern (the one the ByteLevel pre-tokenizer applies with use_regex). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const END_OF_TEXT = '<|endoftext|>';

/** GPT-2's bytes_to_unicode: each byte → a printable character (printable Latin-1 bytes map to themselves). */
export function byteToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table: string[] = new Array(256);
  const kept = new Set(keep);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (kept.has(b)) table[b] = String.fromCodePoint(b);
    else table[b] = String.fromCodePoint(256 + n++);
  }
  return table;
}

export interface BpeTrainOptions {
  /** Total vocabulary size including the 256 byte symbols and the special token. */
  readonly vocabSize: number;
  /** A pair seen fewer times than this is never merged (training stops early). */
  readonly minFrequency?: number;
}

export interface BpeResult {
  /** token string (byte-level alphabet) → id */
  readonly vocab: Map<string, number>;
  /** merges in rank order, as [left, right] token strings */
  readonly merges: [string, string][];
  readonly endOfTextId: number;
}

/**
 * Trains byte-level BPE on `texts` (each counted `weight` times; weights let a language mix shape
 * the vocabulary). Cost: O(merges × distinct pairs) for choosing pairs, plus the touched words.
 */
export function trainBpe(texts: readonly { text: string; weight?: number }[], opts: BpeTrainOptions): BpeResult {
  const minFreq = opts.minFrequency ?? 2;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 257)
    throw new Error(`trainBpe: vocabSize must be an integer ≥ 257, got ${opts.vocabSize}`);
  const b2u = byteToUnicode();
  const enc = new TextEncoder();

  // Distinct pre-tokens with their (weighted) counts.
  const wordCounts = new Map<string, number>();
  for (const { text, weight = 1 } of texts) {
    for (const m of text.matchAll(GPT2_SPLIT)) {
      const w = m[0];
      wordCounts.set(w, (wordCounts.get(w) ?? 0) + weight);
    }
  }
  // Sorted for a deterministic word order independent of insertion order.
  const wordList = [...wordCounts.keys()].sort();
  const words: number[][] = wordList.map((w) => Array.from(enc.encode(w)));
  const freq: number[] = wordList.map((w) => wordCounts.get(w)!);

  const tokens: string[] = b2u.slice(); // id → token string
  const merges: [string, string][] = [];
  const key = (a: number, b: number) => a * 65536 + b;
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>(); // pair → indices of words that contain it
  const addPairs = (wi: number, sign: number) => {
    const s = words[wi];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, +1);

  const target = opts.vocabSize - 1; // the last id is the special token
  while (tokens.length < target) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best < 0 || bestCount < minFreq) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const id = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([tokens[a], tokens[b]]);
    const touched = [...(where.get(best) ?? [])].sort((x, y) => x - y);
    for (const wi of touched) {
      addPairs(wi, -1);
      const s = words[wi];
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        // Left-to-right, non-overlapping: "aaa" with merge (a,a) → "aa a".
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]);
      }
      words[wi] = out;
      addPairs(wi, +1);
    }
    where.delete(best);
    pairCount.delete(best);
    // Drop pairs whose count fell to zero so the scan stays short.
    if (merges.length % 64 === 0) for (const [k, c] of pairCount) if (c <= 0) pairCount.delete(k);
  }
  const vocab = new Map<string, number>();
  tokens.forEach((t, i) => vocab.set(t, i));
  const endOfTextId = tokens.length;
  vocab.set(END_OF_TEXT, endOfTextId);
  return { vocab, merges, endOfTextId };
}

/** The Hugging Face `tokenizer.json` object for a trained byte-level BPE. */
export function tokenizerJson(bpe: BpeResult): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const vocab: Record<string, number> = {};
  for (const [t, id] of bpe.vocab) if (t !== END_OF_TEXT) vocab[t] = id;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: bpe.endOfTextId,
        content: END_OF_TEXT,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: bpe.merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

/** The matching `tokenizer_config.json` (what transformers' AutoTokenizer reads beside tokenizer.json). */
export function tokenizerConfigJson(bpe: BpeResult, maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'GPT2TokenizerFast',
    bos_token: END_OF_TEXT,
    eos_token: END_OF_TEXT,
    unk_token: END_OF_TEXT,
    add_prefix_space: false,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: {
      [String(bpe.endOfTextId)]: {
        content: END_OF_TEXT,
        lstrip: false,
        normalized: true,
        rstrip: false,
        single_word: false,
        special: true,
      },
    },
  };
}
