// The kernels: plain loops over Float32Array, destination first, sizes explicit, no allocation.
// Each has a `…Naive` twin kept on purpose as its reference (test/kernels).
export * from './types.ts';
export * from './matmul.ts';
export * from './norm.ts';
export * from './softmax.ts';
export * from './activations.ts';
export * from './rotary.ts';
export * from './alibi.ts';
export * from './attention.ts';
