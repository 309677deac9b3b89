// What an execution engine offers the evaluation code: score a window of token ids.
// Two engines implement it: `reference` (TypeScript kernels, exact, the fallback) and `ort`
// (a graph langquant builds and runs through onnxruntime-node).

export interface ScoreRequest {
  /** Token ids of one window, length T ≥ 2 (batch 1, positions 0..T−1, no padding). */
  readonly ids: Int32Array;
  /** Also return the full log-softmax rows [T−1, V] (for KL divergence against another model). */
  readonly wantLogProbs?: boolean;
  /** Also return the raw logits [T, V]. */
  readonly wantLogits?: boolean;
  /** Also return the head's input for every position, [T, H] (`ScoreResult.hidden`), to rerun the head alone later. */
  readonly wantHidden?: boolean;
  /** Also return KL(p_ref ‖ p_this) at positions from..T−2 against these log-probabilities (`ScoreResult.kl`). */
  readonly klReference?: KlReference;
  /**
   * Or: KL against the `klHeadOf` engine's model given its head input for this window (`hidden` of
   * that engine's `score` with wantHidden, [T, H_ref]): this engine runs that model's head itself,
   * so the reference's [T−1, V] log-probabilities never leave it. Only for an engine with `klHeadOf`;
   * the KL is the same, bit for bit, as with `klReference` rows from that engine's `head`.
   */
  readonly klReferenceHidden?: KlReferenceHidden;
}

/** The reference model's head input for one window, for `ScoreRequest.klReferenceHidden`. */
export interface KlReferenceHidden {
  /** [T, H_ref]: what the reference engine's head reads at each window position. */
  readonly hidden: Float32Array;
  /** First window position compared, 0 ≤ from < T−1. */
  readonly from: number;
}

/**
 * Another model's log-probabilities for the same window, to compare with inside the engine (the
 * treated model against full precision) without handing this model's [T−1, V] rows back.
 */
export interface KlReference {
  /** [T−1−from, V]: row r holds the reference model's log-probabilities at window position from + r. */
  readonly rows: Float32Array;
  /** First window position compared, 0 ≤ from < T−1 (the earlier positions are context only). */
  readonly from: number;
}

/** The head alone, on hidden states an earlier `score` returned for the same window. */
export interface HeadRequest {
  /** Token ids of the window (the targets of the NLL), length T ≥ 2. */
  readonly ids: Int32Array;
  /** `ScoreResult.hidden` of this window from this engine's model: [T, H]. */
  readonly hidden: Float32Array;
  readonly wantLogProbs?: boolean;
  readonly wantLogits?: boolean;
  readonly klReference?: KlReference;
}

export interface ScoreResult {
  /** nll[t] = −log softmax(logits[t])[ids[t+1]], nats, t = 0..T−2. */
  readonly nll: Float64Array;
  /** argmax of logits[t], t = 0..T−2 (top-1 agreement between models). */
  readonly top1: Int32Array;
  /** [T−1, V] log-probabilities when asked for. */
  readonly logProbs?: Float32Array;
  /** [T, V] logits when asked for. */
  readonly logits?: Float32Array;
  /**
   * [T, H] when asked for: what the engine's head reads at each position (the ort engine: the body
   * graph's output; the reference engine: the last block's output, before the final norm). Only the
   * same engine's `head` understands it.
   */
  readonly hidden?: Float32Array;
  /**
   * [T−1−from] when `klReference` was given: KL(p_ref ‖ p_this) in nats at positions from..T−2, each
   * term p_ref(v)·(ln p_ref(v) − ln p_this(v)) summed in float64 (the reference engine's terms float64,
   * the ort engine's float32), rounding below zero (> −1e-6) returned as 0.
   */
  readonly kl?: Float64Array;
}

export interface Engine {
  readonly name: 'reference' | 'ort';
  /**
   * What decides this engine's numbers besides the model's weights (its name, runtime version and
   * the options that change the order of float operations), for caches of its results; absent: the name.
   */
  readonly identity?: string;
  /** The width H of `ScoreResult.hidden`, when the engine offers `head`. */
  readonly hiddenWidth?: number;
  /**
   * The engine whose head this one runs itself for KL (`ScoreRequest.klReferenceHidden`): set when
   * the engine was made with that engine as its KL reference and can reproduce its head exactly.
   */
  readonly klHeadOf?: Engine;
  score(req: ScoreRequest): Promise<ScoreResult>;
  /**
   * The head alone on the hidden states of one window (from `score` with `wantHidden`): the same
   * NLL, top-1 and log-probabilities, bit for bit, as that `score` computed, at the cost of the
   * output matrix only. Optional: an engine without it cannot be fed cached hidden states.
   */
  head?(req: HeadRequest): Promise<ScoreResult>;
  dispose(): Promise<void>;
}

export type EngineName = 'reference' | 'ort' | 'auto';
