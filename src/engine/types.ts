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
}

export interface Engine {
  readonly name: 'reference' | 'ort';
  score(req: ScoreRequest): Promise<ScoreResult>;
  dispose(): Promise<void>;
}

export type EngineName = 'reference' | 'ort' | 'auto';
