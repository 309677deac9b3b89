// The language mix of a training run: each language's share of the training sequences (shares are
// normalised to sum to 1). A language listed with share 0 is "unseen": the tokenizer and the model
// never see it, and it is still reported in the held-out table.
//
// File format (`--mix FILE`, JSON): { "description"?: string, "shares": { "<iso 639-3 or udhr code>": number, … } }
// The default mix (`--mix default`) follows the study's language groups (src/data/registry.ts,
// DEFAULT_STUDY_GROUPS): the high-resource languages share 88 % of the sequences equally, the
// low-resource ones share 12 % equally, and two low-resource languages (ibo, khm: one in a script the
// model sees, one in a script it never sees) are unseen.

import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { DEFAULT_STUDY_GROUPS } from '../data/registry.ts';

export interface Mix {
  /** Where the mix came from: "default" or the file path as given. */
  readonly source: string;
  /** Language → normalised share in [0, 1]; sums to 1 over the languages. Insertion order is kept. */
  readonly shares: Readonly<Record<string, number>>;
}

export const DEFAULT_HIGH_SHARE = 0.88;
export const DEFAULT_UNSEEN: readonly string[] = ['ibo', 'khm'];

export function defaultMix(): Mix {
  const high = DEFAULT_STUDY_GROUPS.high;
  const low = DEFAULT_STUDY_GROUPS.low;
  const unseen = low.filter((l) => DEFAULT_UNSEEN.includes(l));
  const seenLow = low.filter((l) => !unseen.includes(l));
  const shares: Record<string, number> = {};
  for (const l of high) shares[l] = DEFAULT_HIGH_SHARE / high.length;
  for (const l of seenLow) shares[l] = (1 - DEFAULT_HIGH_SHARE) / seenLow.length;
  for (const l of unseen) shares[l] = 0;
  return { source: 'default', shares: Object.freeze(shares) };
}

/** Validates raw shares and normalises them to sum 1. */
export function makeMix(source: string, raw: unknown): Mix {
  const where = source === 'default' ? 'the default mix' : `mix file ${source}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${where} must be a JSON object like {"shares": {"eng": 0.5, "swh": 0.1}}`);
  const s = (raw as Record<string, unknown>)['shares'];
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    throw new ConfigError(`${where} has no "shares" object; write {"shares": {"eng": 0.5, "swh": 0.1, …}}`);
  let total = 0;
  const out: Record<string, number> = {};
  for (const [lang, v] of Object.entries(s as Record<string, unknown>)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`${where}: the share of "${lang}" must be a number ≥ 0, found ${JSON.stringify(v)}`);
    }
    out[lang] = v;
    total += v;
  }
  if (total <= 0) throw new ConfigError(`${where}: every share is 0; give at least one language a positive share`);
  for (const k of Object.keys(out)) out[k] /= total;
  return { source, shares: Object.freeze(out) };
}

/** `--mix default` or `--mix FILE`. */
export function readMix(spec: string): Mix {
  if (spec === 'default') return defaultMix();
  if (!existsSync(spec))
    throw new ConfigError(
      `mix file ${spec} does not exist; pass --mix default or a JSON file {"shares": {"eng": 0.5, …}}`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    // JSON.parse's message may quote the text across lines: one line for the CLI.
    const why = (e as Error).message.replace(/\s+/g, ' ').trim();
    throw new ConfigError(`mix file ${spec} is not valid JSON (${why}); fix the file`);
  }
  return makeMix(spec, raw);
}

export function seenLanguages(mix: Mix): string[] {
  return Object.keys(mix.shares).filter((l) => mix.shares[l] > 0);
}

/** A stable hash of the shares (part of a checkpoint's identity). */
export function mixHash(mix: Mix): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.entries(mix.shares)))
    .digest('hex')
    .slice(0, 16);
}
