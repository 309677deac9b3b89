// The beginning-of-sequence (BOS) convention of scoring. A model trained with a BOS before every
// text (OPT: `</s>`, Llama: `<s>`) is scored the same way by transformers and lm-eval; one trained
// without (GPT-2, GPT-NeoX, the built-in mini models) is not. What the model's files say is read
// by src/model/tokenizer.ts (detectBos); this file turns it and a mode into the ids that are scored.
//
// Modes: auto (default) follows the model's convention; always prepends the tokenizer's BOS token
// (an error when it has none); never prepends nothing.
//
// With a BOS the scored sequence is [BOS, t₀, t₁, …]: the BOS is position 0, context only — never a
// target, and without bytes or characters (those are counted on the text alone) — so every token of
// the text is scored, t₀ included. Without a BOS the sequence is the text's ids and, as always, its
// first token is context only (windows.ts). Ids given directly (`nll --ids`) are scored as given.

import { CheckpointError, ConfigError } from '../errors.ts';
import type { TextTokenizer } from '../model/tokenizer.ts';

export const BOS_MODES = ['auto', 'always', 'never'] as const;
export type BosMode = (typeof BOS_MODES)[number];

/** What is put before every text: a token (`token`, `id`) or nothing (both null). */
export interface BosPlan {
  readonly mode: BosMode;
  readonly token: string | null;
  readonly id: number | null;
  /** Why, from the tokenizer's files (or the mode), for logs and outputs. */
  readonly reason: string;
}

/** No BOS: the text's ids only (what a caller that passes no plan gets). */
export const NO_BOS: BosPlan = Object.freeze({ mode: 'never', token: null, id: null, reason: 'no BOS asked for' });

/** Checks a --bos value (or params.bos); `option` names it in the message. */
export function parseBosMode(v: string, option = '--bos'): BosMode {
  if (!(BOS_MODES as readonly string[]).includes(v))
    throw new ConfigError(`${option} ${v} is not a BOS mode; use ${BOS_MODES.join(', ')}`);
  return v as BosMode;
}

/**
 * The plan for a tokenizer and a mode. `always` with a tokenizer that names no BOS token is a
 * ConfigError; `auto` with a tokenizer_config.json that asks for a BOS it does not name is a
 * CheckpointError. `option` is how the caller's user sets the mode (`--bos`, `params.bos`).
 */
export function resolveBos(tok: Pick<TextTokenizer, 'bos' | 'source'>, mode: BosMode, option = '--bos'): BosPlan {
  const b = tok.bos;
  const forced = `forced; the model's own convention: ${b.reason}`;
  if (mode === 'never') return { mode, token: null, id: null, reason: forced };
  if (mode === 'always') {
    if (b.id === null || b.token === null) {
      throw new ConfigError(
        `the tokenizer ${tok.source} has no BOS token (its tokenizer_config.json names no bos_token of its vocabulary and its post-processor puts no special token first), so ${option} always cannot prepend one; use ${option} auto or ${option} never`,
      );
    }
    return { mode, token: b.token, id: b.id, reason: forced };
  }
  if (!b.byDefault) return { mode, token: null, id: null, reason: b.reason };
  if (b.id === null || b.token === null) {
    throw new CheckpointError(
      `the tokenizer ${tok.source} asks for a BOS token it cannot give (${b.reason}); fix its tokenizer_config.json, or score with ${option} never`,
    );
  }
  return { mode, token: b.token, id: b.id, reason: b.reason };
}

/** The ids that are scored for a text: [BOS, …text ids] with a BOS, the text ids without. */
export function encodeWithBos(tok: Pick<TextTokenizer, 'encode'>, text: string, plan?: BosPlan | null): number[] {
  const ids = tok.encode(text);
  return plan?.id != null ? [plan.id, ...ids] : ids;
}

/** 1 when the plan prepends a BOS, else 0 (how many leading ids are not the text's). */
export function bosOffset(plan?: BosPlan | null): 0 | 1 {
  return plan?.id != null ? 1 : 0;
}

/** The convention as JSON fields: {"bos": "</s>" | null, "bosId": 2 | null, "bosMode": "auto", "bosReason": …}. */
export function bosFields(plan: BosPlan): {
  bos: string | null;
  bosId: number | null;
  bosMode: BosMode;
  bosReason: string;
} {
  return { bos: plan.token, bosId: plan.id, bosMode: plan.mode, bosReason: plan.reason };
}

/** One sentence stating the convention, printed next to results. */
export function describeBos(plan: BosPlan, option = '--bos'): string {
  return plan.id !== null
    ? `BOS: ${plan.token} (id ${plan.id}) is put before each text (${option} ${plan.mode}: ${plan.reason}); it is context only, with no bytes, so every token of the text is scored.`
    : `BOS: none (${option} ${plan.mode}: ${plan.reason}); the first token of each text is context only, not scored.`;
}
