// The tensor type: a Float32Array and a shape, row-major. No proxies, no lazy graphs.
// Views are made with `subarray`, so a tensor may share its buffer with others.

export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(data: Float32Array, shape: readonly number[]): Tensor {
  if (data.length !== numel(shape)) {
    throw new Error(`tensor: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  }
  return { data, shape: [...shape] };
}

export function zeros(shape: readonly number[]): Tensor {
  return { data: new Float32Array(numel(shape)), shape: [...shape] };
}

export function shapeEquals(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
