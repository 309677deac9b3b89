// safetensors: header validation as the reference reader does it (every lie named), the writer's
// round trip and atomicity, and positioned reads past 2 GiB in a sparse file.
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { readSafetensors, readSafetensorsHeader } from '../../src/model/checkpoint/safetensors.ts';
import { writeSafetensors } from '../../src/model/checkpoint/write.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { rawSafetensors, tempDir, type RawEntry } from '../helpers/checkpoints.ts';

const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
const ENTRIES: RawEntry[] = [
  { name: 'a', dtype: 'F32', shape: [2, 2], bytes: f32([1, 2, 3, 4]) },
  { name: 'b', dtype: 'F32', shape: [3], bytes: f32([5, 6, 7]) },
];

/**
 * Writes a safetensors file whose `dataBytes` of data are a hole (no disk used), with `tail` written
 * at the very end of the data when given. Returns the JSON header's length in bytes.
 */
function sparseSafetensors(p: string, header: object, dataBytes: number, tail?: Buffer): number {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(p, 'w');
  try {
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    ftruncateSync(fd, 8 + json.length + dataBytes);
    if (tail) writeSync(fd, tail, 0, tail.length, 8 + json.length + dataBytes - tail.length);
  } finally {
    closeSync(fd);
  }
  return json.length;
}

function rejects(path: string, pattern: RegExp): void {
  assert.throws(
    () => readSafetensorsHeader(path),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
}

test('an honest file reads back exactly', (t) => {
  const p = join(tempDir(t), 'model.safetensors');
  rawSafetensors(p, ENTRIES);
  const got = readSafetensors(p);
  assert.deepEqual([...got.get('a')!.data], [1, 2, 3, 4]);
  assert.deepEqual(got.get('b')!.shape, [3]);
  assert.deepEqual(readSafetensorsHeader(p).metadata, { format: 'pt' });
});

test('each lie in a header is refused with a named reason', (t) => {
  const dir = tempDir(t);
  let i = 0;
  const check = (pattern: RegExp, opts: Parameters<typeof rawSafetensors>[2], entries = ENTRIES) => {
    const p = join(dir, `case${i++}.safetensors`);
    rawSafetensors(p, entries, opts);
    rejects(p, pattern);
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test edits any header field
  const edit = (f: (h: Record<string, any>) => void) => (h: Record<string, unknown>) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    const c = structuredClone(h) as Record<string, any>;
    f(c);
    return c;
  };
  check(/truncated|ends at data byte/, { truncate: 4 });
  check(/header length \d+ does not fit/, { lengthField: 10_000_000n });
  check(/over the 100000000-byte limit/, { lengthField: 1n << 40n });
  check(/not valid UTF-8 JSON/, { lengthField: 60n }); // length too short: the JSON is cut
  check(/not contiguous/, { header: edit((h) => (h.b.data_offsets = [20, 32])), trailing: 4 });
  check(/spans 8 bytes but shape \[3\] of F32 needs 12/, { header: edit((h) => (h.b.data_offsets = [16, 24])) });
  check(/not contiguous/, { header: edit((h) => (h.a.data_offsets = [4, 20])) }); // overlap / gap at 0
  check(/4 bytes after the last tensor/, { trailing: 4 });
  check(/unknown dtype "F33"/, { header: edit((h) => (h.a.dtype = 'F33')) });
  check(/invalid shape/, { header: edit((h) => (h.a.shape = [2, -2])) });
  check(/invalid data_offsets/, { header: edit((h) => (h.a.data_offsets = [16, 0])) });
  check(/does not start with "\{"/, { header: () => ' '.repeat(8) });
  check(/entry "a" is not an object/, { header: () => '{"a": 1}' });
  check(/"__metadata__" is not an object of strings/, { header: edit((h) => (h.__metadata__ = { format: 1 })) });
  check(/shape too large/, { header: edit((h) => (h.a.shape = [2 ** 40, 2 ** 40])) });
});

test('a file shorter than its length field is refused', (t) => {
  const p = join(tempDir(t), 'x.safetensors');
  rawSafetensors(p, [], { header: () => '', lengthField: 0n, truncate: 3 });
  rejects(p, /too short for a header/);
});

test('a non-float dtype validates in the header but is refused when read', (t) => {
  const p = join(tempDir(t), 'm.safetensors');
  rawSafetensors(p, [{ name: 'mask', dtype: 'BOOL', shape: [4], bytes: Buffer.from([1, 0, 1, 1]) }, ...ENTRIES]);
  assert.equal(readSafetensorsHeader(p).entries.get('mask')!.dtype, 'BOOL');
  assert.deepEqual([...readSafetensors(p, ['b']).get('b')!.data], [5, 6, 7]);
  assert.throws(() => readSafetensors(p, ['mask']), /stored as BOOL; langquant reads F32, F16 and BF16/);
});

test('the writer round-trips F32 exactly and F16/BF16 to the rounded value, atomically', (t) => {
  const dir = tempDir(t);
  const values = new Float32Array([0, -0, 1.5, -3.25, 1e-7, 6e-8, 70000, Infinity, -Infinity, NaN, 0.1, 2 ** -20]);
  const tensors = new Map<string, Tensor>([
    ['z.weight', { data: values, shape: [3, 4] }],
    ['a.bias', { data: new Float32Array([7]), shape: [1] }],
  ]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const p = join(dir, `${dtype}.safetensors`);
    writeSafetensors(p, tensors, { dtype, metadata: { source: 'test' } });
    const h = readSafetensorsHeader(p);
    assert.deepEqual([...h.entries.keys()], ['a.bias', 'z.weight']);
    assert.deepEqual(h.metadata, { source: 'test', format: 'pt' });
    assert.equal((h.entries.get('a.bias')!.begin - 8) % 8, 0, 'data starts 8-byte aligned');
    const back = readSafetensors(p).get('z.weight')!;
    assert.deepEqual(back.shape, [3, 4]);
    for (let i = 0; i < values.length; i++) {
      const want =
        dtype === 'F32'
          ? values[i]
          : dtype === 'BF16'
            ? new Float32Array(new Uint32Array([f32ToBf16Bits(values[i]) << 16]).buffer)[0]
            : f16(f32ToF16Bits(values[i]));
      assert.ok(
        Object.is(back.data[i], want) || (Number.isNaN(want) && Number.isNaN(back.data[i])),
        `${dtype}[${i}] ${back.data[i]} ≠ ${want}`,
      );
    }
  }
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary files left',
  );
  // A failed write leaves neither a temporary file nor a damaged target.
  const target = join(dir, 'F32.safetensors');
  assert.throws(
    () => writeSafetensors(target, new Map([['bad', { data: new Float32Array(3), shape: [2] }]]), { dtype: 'F32' }),
    /3 values for shape \[2\]/,
  );
  assert.equal(readSafetensors(target).size, 2);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

/** binary16 bits → number, by the IEEE 754 definition. */
function f16(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const s = h >> 15 ? -1 : 1;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * 2 ** -14 * (m / 1024) : s * 2 ** (e - 15) * (1 + m / 1024);
}

test('a tensor beyond 2 GiB is read with positioned reads (sparse 2.5 GiB file)', (t) => {
  const p = join(tempDir(t), 'big.safetensors');
  const big = 2.5 * 2 ** 30;
  const header = {
    filler: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
    tail: { dtype: 'F32', shape: [3], data_offsets: [big, big + 12] },
  };
  sparseSafetensors(p, header, big + 12, f32([1.25, -2, 2 ** 34]));
  const h = readSafetensorsHeader(p);
  assert.ok(h.entries.get('tail')!.begin > 2 ** 31);
  assert.deepEqual([...readSafetensors(p, ['tail']).get('tail')!.data], [1.25, -2, 2 ** 34]);
});

test('a tensor too large for one array is a CheckpointError, not a crash (sparse 16 GiB file)', (t) => {
  const p = join(tempDir(t), 'huge.safetensors');
  const n = 2 ** 33; // F16 values: 16 GiB in the file, 32 GiB as float32, past Node's typed-array limit
  const headerBytes = sparseSafetensors(
    p,
    { huge: { dtype: 'F16', shape: [2 ** 17, 2 ** 16], data_offsets: [0, 2 * n] } },
    2 * n,
  );
  assert.equal(readSafetensorsHeader(p).entries.get('huge')!.end, 8 + headerBytes + 2 * n);
  assert.throws(
    () => readSafetensors(p, ['huge']),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(
        e.message,
        /tensor "huge" has 8589934592 values \(32\.0 GiB as float32\), more than one array can hold here .*use a smaller model/,
      );
      return true;
    },
  );
});
