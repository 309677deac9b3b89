// Deterministic splits of aligned text units (UDHR articles, FLORES sentences) into three sets that
// never overlap: TRAINING (for the built-in models' trainer), CALIBRATION (activations for
// preservation selectors) and EVALUATION (perplexity and degradation).
//
// How ids are assigned, in two stages:
//   1. Training is decided first and only by `trainingSeed` (default 0), never by the replicate
//      `seed`: the ids are ranked by a hash of (trainingSeed, id) and the first
//      round(trainingShare · n) are training. So every replicate of every experiment leaves the
//      trainer's units alone, and the trainer's split never touches any evaluation set.
//   2. The other ids are ranked by a hash of (seed, id): the first round(calibrationShare · n) are
//      calibration (at least 1 when calibrationShare > 0), the rest evaluation. A replicate draws
//      its own calibration/evaluation subsets with its own seed; the same seed gives the same sets.
// The result depends on the SET of ids, not their order (each set is returned in input order).
// The training stage is taken over a fixed UNIVERSE of ids and then restricted to the ids given, so
// that splitting a subset (the articles some languages share, when a declaration lacks its preamble
// or some articles) never moves a unit across the training boundary: a unit the trainer saw is
// training in every subset. The universe is `opts.universe`, else UDHR_UNIT_IDS when every id is
// a UDHR unit id, else the ids themselves. Calibration and evaluation are drawn among the given ids.
//
// Defaults for the 31 UDHR units: training 0.4 (12), calibration 0.2 (6), evaluation the rest (13).
//
// Public API:
//   splitUnits(unitIds, opts) → { training, calibration, evaluation }
//   UDHR_UNIT_IDS                 "preamble", "article-1" … "article-30"
//   DEFAULT_SPLIT_SHARES

import { ConfigError } from '../errors.ts';
import { deriveSeed } from '../util/rng.ts';

export interface SplitOptions {
  /** Replicate seed: draws calibration vs evaluation among the non-training units. */
  seed: number;
  /** Seed of the training split; keep it fixed across replicates (default 0). */
  trainingSeed?: number;
  /** Share of all units held out for training, in [0, 1). Default 0.4. */
  trainingShare?: number;
  /** Share of all units for calibration, in [0, 1). Default 0.2. */
  calibrationShare?: number;
  /**
   * Every id the corpus could have; the training set is drawn over it, then restricted to the
   * ids given. Default: UDHR_UNIT_IDS when every id is one of them, else the ids given.
   */
  universe?: readonly string[];
}

export interface UnitSplit {
  training: string[];
  calibration: string[];
  evaluation: string[];
}

export const DEFAULT_SPLIT_SHARES = { trainingShare: 0.4, calibrationShare: 0.2 } as const;

/** The 31 aligned units of a complete UDHR declaration. */
export const UDHR_UNIT_IDS: readonly string[] = Object.freeze([
  'preamble',
  ...Array.from({ length: 30 }, (_, i) => `article-${i + 1}`),
]);

export function splitUnits(unitIds: readonly string[], opts: SplitOptions): UnitSplit {
  const trainingShare = opts.trainingShare ?? DEFAULT_SPLIT_SHARES.trainingShare;
  const calibrationShare = opts.calibrationShare ?? DEFAULT_SPLIT_SHARES.calibrationShare;
  for (const [name, v] of [
    ['trainingShare', trainingShare],
    ['calibrationShare', calibrationShare],
  ] as const) {
    if (!(v >= 0 && v < 1)) throw new ConfigError(`split ${name} must be in [0, 1), got ${v}`);
  }
  if (trainingShare + calibrationShare >= 1) {
    throw new ConfigError(
      `split shares leave nothing to evaluate (training ${trainingShare} + calibration ${calibrationShare} ≥ 1); lower one of them`,
    );
  }
  if (!Number.isInteger(opts.seed) || !Number.isInteger(opts.trainingSeed ?? 0))
    throw new ConfigError('split seeds must be integers');
  const ids = [...unitIds];
  if (new Set(ids).size !== ids.length) throw new ConfigError('splitUnits: unit ids must be unique');
  const n = ids.length;
  const universe = trainingUniverse(ids, opts.universe);
  const training = new Set(
    rank(universe, opts.trainingSeed ?? 0, 'training').slice(0, Math.round(trainingShare * universe.length)),
  );
  const nTrain = ids.filter((id) => training.has(id)).length;
  let nCal = Math.round(calibrationShare * n);
  if (calibrationShare > 0 && nCal === 0 && n - nTrain >= 2) nCal = 1; // a selector needs some calibration text
  if (n - nTrain - nCal < 1 && n > 0) {
    throw new ConfigError(
      `split of ${n} units leaves no evaluation unit (training ${nTrain}, calibration ${nCal}); lower the shares or use more text`,
    );
  }

  const rest = ids.filter((id) => !training.has(id));
  const calibration = new Set(rank(rest, opts.seed, 'calibration').slice(0, nCal));
  return {
    training: ids.filter((id) => training.has(id)),
    calibration: ids.filter((id) => calibration.has(id)),
    evaluation: rest.filter((id) => !calibration.has(id)),
  };
}

function trainingUniverse(ids: readonly string[], universe: readonly string[] | undefined): string[] {
  if (universe) {
    const u = [...new Set(universe)];
    const set = new Set(u);
    const outside = ids.filter((id) => !set.has(id));
    if (outside.length > 0)
      throw new ConfigError(
        `splitUnits: unit ${outside.slice(0, 3).join(', ')} is not in the universe of ids; pass the corpus's full id list as the universe`,
      );
    return u;
  }
  const udhr = new Set(UDHR_UNIT_IDS);
  // A subset of the UDHR units is split as the whole declaration is, so the trainer's units stay out.
  return ids.length > 0 && ids.every((id) => udhr.has(id)) ? [...UDHR_UNIT_IDS] : [...ids];
}

/** Ids ordered by a seeded hash (ties, vanishingly rare, by id): a permutation independent of input order. */
function rank(ids: readonly string[], seed: number, purpose: string): string[] {
  const keyed = ids.map((id) => ({ id, h: deriveSeed(seed, purpose, id) }));
  keyed.sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return keyed.map((k) => k.id);
}
