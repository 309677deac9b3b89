// The protobuf encoder and graph builder against onnxruntime itself: varints and packed fields
// decode to what was written, a hand-built graph runs, and weights that are views into a larger
// buffer (non-zero byteOffset, as the loader may give) reach onnxruntime intact in both weight
// modes; a tied weight (one Tensor under two names) becomes one initialiser or input.
// Canonical names: two graphs of one structure encode to the same bytes and share a session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, type WeightMode } from '../../src/engine/ort/graph.ts';
import { loadOrt } from '../../src/engine/ort/runtime.ts';
import { DataType, PbWriter } from '../../src/engine/ort/proto.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';

function readVarint(b: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[at++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [v, at];
    shift += 7n;
  }
}

test('varints: small, multi-byte, above 2^32 and negative (ten bytes, two’s complement)', () => {
  for (const n of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1, -1, -2]) {
    const w = new PbWriter();
    w.varint(n);
    const bytes = w.finish();
    const [v, end] = readVarint(bytes, 0);
    assert.equal(end, bytes.length);
    assert.equal(BigInt.asIntN(64, v), BigInt(n), `varint ${n}`);
    if (n < 0) assert.equal(bytes.length, 10);
  }
  assert.throws(() => new PbWriter().varint(0.5), /not a safe integer/);
});

for (const mode of ['initializers', 'inputs'] as WeightMode[]) {
  test(`a hand-built graph runs, with weights given as ${mode} from views into a larger buffer`, async () => {
    const ort = await loadOrt();
    const big = new Float32Array(64);
    for (let i = 0; i < big.length; i++) big[i] = i;
    const W: Tensor = { data: big.subarray(10, 16), shape: [2, 3] }; // [[10,11,12],[13,14,15]]
    const bias: Tensor = { data: big.subarray(40, 43), shape: [3] };
    const b = new GraphBuilder('t', mode);
    const x = b.input('x', DataType.FLOAT, ['T', 2]);
    const y = b.node('Gemm', [x, b.weight(W, 'W'), b.weight(bias, 'bias')]);
    const y2 = b.node('MatMul', [
      b.node('Gemm', [x, b.weight(W, 'W again')]),
      b.constant([1, 1, 1], [3, 1], DataType.FLOAT),
    ]);
    b.output(y, 'y', DataType.FLOAT, ['T', 3]);
    b.output(y2, 'rowsum', DataType.FLOAT, ['T', 1]);
    const g = b.encode();
    const weightCount = mode === 'inputs' ? g.weightFeeds.length : g.externalData.length;
    assert.equal(weightCount, 2, 'W used twice is one weight');
    const s = await ort.InferenceSession.create(g.model, { externalData: g.externalData, logSeverityLevel: 3 });
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
      x: new ort.Tensor('float32', Float32Array.from([1, 2]), [1, 2]),
    };
    for (const f of g.weightFeeds) feeds[f.name] = new ort.Tensor('float32', f.data, f.dims);
    const r = await s.run(feeds);
    // [1, 2]·[[10,11,12],[13,14,15]] + [40,41,42] = [76, 80, 84]
    assert.deepEqual(Array.from(r.y.data as Float32Array), [76, 80, 84]);
    assert.deepEqual(Array.from(r.rowsum.data as Float32Array), [36 + 39 + 42]);
    await s.release();
  });
}

test('canonical names: graphs of one structure encode to the same bytes, and each runs with its own weights', async () => {
  const ort = await loadOrt();
  const graph = (prefix: string, w: number[], k = 2) => {
    const b = new GraphBuilder(`${prefix}_graph`, 'inputs');
    b.fresh('taken'); // the counters differ between the builders: canonical names must not depend on them
    const x = b.input('x', DataType.FLOAT, ['T', 2]);
    const W: Tensor = { data: Float32Array.from(w), shape: [2, 2] };
    const y = b.node('Mul', [b.node('Gemm', [x, b.weight(W, `${prefix}.weight`)]), b.scalarF(k, `${prefix}_k`)]);
    b.output(y, 'y', DataType.FLOAT, ['T', 2]);
    return b.encode({ canonical: true });
  };
  const a = graph('h.0', [1, 0, 0, 1]);
  const c = graph('h.11.mlp', [0, 1, 1, 0]);
  assert.deepEqual(a.model, c.model, 'same structure, same bytes');
  assert.deepEqual(
    a.weightFeeds.map((f) => f.name),
    ['w0'],
  );
  assert.notDeepEqual(graph('h.0', [1, 0, 0, 1], 3).model, a.model, 'a different constant is a different graph');
  assert.notDeepEqual(new GraphBuilder('h.0_graph', 'inputs').encode().model, a.model);
  // one session, each graph's weights as feeds
  const s = await ort.InferenceSession.create(a.model, { logSeverityLevel: 3 });
  const x = new ort.Tensor('float32', Float32Array.from([1, 2]), [1, 2]);
  const run = async (g: typeof a) => {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { x };
    for (const f of g.weightFeeds) feeds[f.name] = new ort.Tensor('float32', f.data, f.dims);
    return Array.from((await s.run(feeds)).y.data as Float32Array);
  };
  assert.deepEqual(await run(a), [2, 4]);
  assert.deepEqual(await run(c), [4, 2]);
  await s.release();
});
