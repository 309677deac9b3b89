// Training text for the built-in models: the UDHR training split (src/data/splits.ts, decided by
// the training seed only, so it never touches a calibration or evaluation set) of each language of
// the mix, plus the held-out text (the evaluation split at seed 0, as the study's baseline scores
// it) for the bits-per-byte table; and the seeded
// sampler that draws training sequences language by language according to the mix.
//
// A training sequence is T+1 consecutive ids of one language's token stream (its training units
// joined by "\n", repeated when shorter than T+1), from a uniformly drawn start; its language is
// drawn with probability equal to its share. Batch `step` depends only on (seed, step), so a
// resumed run draws exactly the batches an uninterrupted one would.

import { udhrCorpus } from '../data/udhr.ts';
import { joinUnits, unitsById } from '../data/corpus.ts';
import { splitUnits, UDHR_UNIT_IDS } from '../data/splits.ts';
import { DataError } from '../errors.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import type { Mix } from './mix.ts';

export interface LanguageText {
  readonly lang: string;
  readonly share: number;
  /** Training units joined by "\n" (empty for an unseen language: it is never read). */
  readonly train: string;
  /** The evaluation units of the data layer's split at seed 0, joined by "\n" (what the study's baseline scores). */
  readonly heldOut: string;
  readonly trainUnits: readonly string[];
  readonly heldOutUnits: readonly string[];
}

/** The training split of the UDHR units (trainingSeed 0, the data layer's default shares). */
export function trainingUnitIds(): string[] {
  return splitUnits(UDHR_UNIT_IDS, { seed: 0 }).training;
}

/** The evaluation split at seed 0 (disjoint from the training split). */
export function evaluationUnitIds(): string[] {
  return splitUnits(UDHR_UNIT_IDS, { seed: 0 }).evaluation;
}

export function mixTexts(mix: Mix): LanguageText[] {
  const langs = Object.keys(mix.shares);
  const corpus = udhrCorpus({ languages: langs });
  const trainIds = new Set(trainingUnitIds());
  const evalIds = new Set(evaluationUnitIds());
  return langs.map((lang) => {
    const ids = corpus.units(lang).map((u) => u.id);
    const tr = ids.filter((id) => trainIds.has(id));
    const ho = ids.filter((id) => evalIds.has(id));
    if (mix.shares[lang] > 0 && tr.length === 0)
      throw new DataError(
        `language ${lang} has no units in the training split; give it share 0 or choose another language`,
      );
    return {
      lang,
      share: mix.shares[lang],
      train: mix.shares[lang] > 0 ? joinUnits(unitsById(corpus, lang, tr)) : '',
      heldOut: joinUnits(unitsById(corpus, lang, ho)),
      trainUnits: tr,
      heldOutUnits: ho,
    };
  });
}

/**
 * Tokenizer-training weights: each seen language's text counted share·(mean bytes)/(its bytes)
 * times, so that the vocabulary follows the mix rather than the length of each translation.
 */
export function tokenizerWeights(texts: readonly LanguageText[]): { text: string; weight: number }[] {
  const seen = texts.filter((t) => t.share > 0);
  const bytes = seen.map((t) => Buffer.byteLength(t.train, 'utf8'));
  const meanBytes = bytes.reduce((a, b) => a + b, 0) / seen.length;
  return seen.map((t, i) => ({ text: t.train, weight: (t.share * seen.length * meanBytes) / bytes[i] }));
}

export interface Stream {
  readonly lang: string;
  readonly share: number;
  readonly ids: Int32Array;
}

/** Repeats `ids` (each copy followed by `sep`) until the stream holds at least `min` ids. */
export function tileStream(ids: readonly number[], sep: readonly number[], min: number): Int32Array {
  if (ids.length === 0) throw new Error('tileStream: empty text');
  const out: number[] = [...ids];
  while (out.length < min) out.push(...sep, ...ids);
  return Int32Array.from(out);
}

export class BatchSampler {
  private readonly cum: number[] = [];
  constructor(
    readonly streams: readonly Stream[],
    readonly T: number,
  ) {
    let c = 0;
    for (const s of streams) {
      if (s.ids.length < T + 1) throw new Error(`BatchSampler: stream of ${s.lang} is shorter than ${T + 1} ids`);
      c += s.share;
      this.cum.push(c);
    }
  }

  /** Fills ids/targets [B, T] for batch `step` of a run seeded `seed`. */
  sample(seed: number, step: number, B: number, ids: Int32Array, targets: Int32Array): string[] {
    const rng = new Rng(deriveSeed(seed, 'batch', step));
    const T = this.T;
    const langs: string[] = [];
    const total = this.cum[this.cum.length - 1];
    for (let b = 0; b < B; b++) {
      const u = rng.next() * total;
      let k = this.cum.findIndex((c) => u < c);
      if (k < 0) k = this.cum.length - 1;
      const s = this.streams[k];
      const start = rng.int(s.ids.length - T);
      for (let t = 0; t < T; t++) {
        ids[b * T + t] = s.ids[start + t];
        targets[b * T + t] = s.ids[start + t + 1];
      }
      langs.push(s.lang);
    }
    return langs;
  }
}
