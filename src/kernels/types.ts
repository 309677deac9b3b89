// Names shared by the kernels (the same strings as src/model/config.ts; kernels import nothing above them).

/** gelu_tanh: gelu_new / bloom_gelu; gelu_erf: exact GELU. */
export type Activation = 'gelu_tanh' | 'gelu_erf' | 'relu' | 'silu' | 'quick_gelu';

/**
 * Storage layout of a weight matrix (the same strings as src/model/spec.ts `Layout`).
 * `in_out`: [inDim, outDim] (GPT-2 Conv1D); `out_in`: [outDim, inDim] (nn.Linear).
 */
export type Layout = 'in_out' | 'out_in';

/**
 * The element type of the kernels shared with the trainer (src/train): Float32Array in inference and
 * training, Float64Array in the trainer's gradient checks.
 */
export type FloatArray = Float32Array | Float64Array;
