// Reads and validates the token-ids file of `langquant nll` (DESIGN.md §2): a JSON array of
// token-id arrays, each at least 2 long, every id a whole number inside the model's vocabulary, no
// sequence longer than the model's positions. Every problem is a DataError naming the file, the
// sequence and position, and what to do.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { DataError } from '../errors.ts';

const EXAMPLE = 'e.g. [[464, 2068, 7586], [40, 1101]]';

export interface IdsLimits {
  /** Ids must be in [0, vocabSize). */
  readonly vocabSize: number;
  /** Longest sequence the model accepts; null = unbounded. */
  readonly maxPositions: number | null;
}

/** Parses and validates the text of an ids file (`file` names it in messages). */
export function parseIds(text: string, file: string, limits: IdsLimits): Int32Array[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DataError(
      `ids file ${file} is not valid JSON (${(e as Error).message}); it should hold an array of token-id arrays, ${EXAMPLE}`,
    );
  }
  if (!Array.isArray(raw)) {
    throw new DataError(`ids file ${file} holds ${kind(raw)}, not an array of token-id arrays; write it as ${EXAMPLE}`);
  }
  if (raw.length === 0)
    throw new DataError(`ids file ${file} holds no sequences; add at least one token-id array, ${EXAMPLE}`);
  const out: Int32Array[] = [];
  for (let s = 0; s < raw.length; s++) {
    const seq: unknown = raw[s];
    if (!Array.isArray(seq)) {
      throw new DataError(
        `ids file ${file}: sequence ${s} is ${kind(seq)}, not an array of token ids; the file must be an array of arrays, ${EXAMPLE}`,
      );
    }
    if (seq.length < 2) {
      throw new DataError(
        `ids file ${file}: sequence ${s} has ${seq.length === 0 ? 'no tokens' : '1 token'}; each sequence needs at least 2 (the first token is context only, every later one is scored)`,
      );
    }
    if (limits.maxPositions !== null && seq.length > limits.maxPositions) {
      throw new DataError(
        `ids file ${file}: sequence ${s} has ${seq.length} tokens but the model accepts at most ${limits.maxPositions} positions; split it into shorter sequences, or score long text with \`langquant perplexity\`, which uses sliding windows`,
      );
    }
    const ids = new Int32Array(seq.length);
    for (let t = 0; t < seq.length; t++) {
      const v: unknown = seq[t];
      if (typeof v !== 'number' || !Number.isInteger(v)) {
        throw new DataError(
          `ids file ${file}: sequence ${s}, position ${t} is ${JSON.stringify(v) ?? String(v)}, not a whole-number token id`,
        );
      }
      if (v < 0 || v >= limits.vocabSize) {
        throw new DataError(
          `ids file ${file}: sequence ${s}, position ${t}: token id ${v} is outside the model's vocabulary (0…${limits.vocabSize - 1}); were these ids made with this model's tokenizer?`,
        );
      }
      ids[t] = v;
    }
    out.push(ids);
  }
  return out;
}

/** Reads an ids file from disk and validates it (see parseIds). */
export function readIdsFile(file: string, limits: IdsLimits): Int32Array[] {
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new DataError(
      `ids file ${file} does not exist; pass a JSON file holding an array of token-id arrays, ${EXAMPLE}`,
    );
  }
  return parseIds(readFileSync(file, 'utf8'), file, limits);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  return `a ${typeof v}`;
}
