// pytorch_model.bin: the torch.save zip layout (built in test/helpers/checkpoints.ts, documented there),
// the restricted pickle interpreter (what it accepts, and that it refuses — never runs — anything else),
// storages shared between tensors, strides, and damaged archives.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { unpickle } from '../../src/model/checkpoint/pickle.ts';
import { openPytorchFile } from '../../src/model/checkpoint/pytorch.ts';
import { crc32 } from '../../src/model/checkpoint/zip.ts';
import {
  buildZip,
  goldenWeights,
  PickleEmitter,
  statePickle,
  tempDir,
  torchSaveFiles,
  writeTorchSave,
  writeZip,
  type TorchStorage,
} from '../helpers/checkpoints.ts';

const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);

function isCheckpointError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  };
}

test('a torch.save state dict of the golden gpt2-a reads back bit for bit, in F32, F16 and BF16', (t) => {
  const dir = tempDir(t);
  const golden = goldenWeights('gpt2-a');
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const path = join(dir, `${dtype}.bin`);
    writeTorchSave(path, golden, dtype);
    const f = openPytorchFile(path, 'pytorch_model.bin');
    try {
      assert.deepEqual([...f.tensors.keys()], [...golden.keys()]);
      for (const [name, want] of golden) {
        const st = f.tensors.get(name)!;
        assert.equal(st.dtype, dtype);
        assert.deepEqual(st.shape, want.shape);
        if (dtype === 'F32') assert.deepEqual(f.read(name).data, want.data, name);
      }
    } finally {
      f.close();
    }
  }
});

test('tensors that view one storage at offsets, and size-1 dims with any stride, are read', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const storages: TorchStorage[] = [{ key: '0', dtype: 'F32', numel: 10, bytes: f32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) }];
  const views = [
    { name: 'a', key: '0', offset: 0, shape: [2, 3] },
    { name: 'b', key: '0', offset: 6, shape: [4] },
    { name: 'c', key: '0', offset: 7, shape: [1, 3], stride: [99, 1] },
    { name: 'scalar', key: '0', offset: 9, shape: [] },
  ];
  writeFileSync(path, buildZip(torchSaveFiles(storages, statePickle(storages, views))));
  const f = openPytorchFile(path, 'pytorch_model.bin');
  try {
    assert.deepEqual([...f.read('a').data], [0, 1, 2, 3, 4, 5]);
    assert.deepEqual([...f.read('b').data], [6, 7, 8, 9]);
    assert.deepEqual([...f.read('c').data], [7, 8, 9]);
    assert.deepEqual([...f.read('scalar').data], [9]);
  } finally {
    f.close();
  }
});

test('the archive folder may have any name (torch.save to a path uses the file stem)', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const storages: TorchStorage[] = [{ key: '0', dtype: 'F32', numel: 2, bytes: f32([1, 2]) }];
  writeFileSync(
    path,
    buildZip(
      torchSaveFiles(
        storages,
        statePickle(storages, [{ name: 'w', key: '0', offset: 0, shape: [2] }]),
        'pytorch_model',
      ),
    ),
  );
  const f = openPytorchFile(path, 'pytorch_model.bin');
  assert.deepEqual([...f.read('w').data], [1, 2]);
  f.close();
});

test('deflated entries are inflated (read via the central directory, CRC checked)', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const storages: TorchStorage[] = [{ key: '0', dtype: 'F16', numel: 2, bytes: Buffer.from([0x00, 0x3c, 0x00, 0xc0]) }]; // 1, -2
  const files = torchSaveFiles(storages, statePickle(storages, [{ name: 'w', key: '0', offset: 0, shape: [2] }]));
  writeFileSync(path, deflatedZip(files));
  const f = openPytorchFile(path, 'pytorch_model.bin');
  assert.deepEqual([...f.read('w').data], [1, -2]);
  f.close();
});

/** A zip whose entries are all deflated (no alignment), built independently of buildZip. */
function deflatedZip(files: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let pos = 0;
  for (const f of files) {
    const name = Buffer.from(f.name);
    const comp = deflateRawSync(f.data);
    const crc = crc32(f.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(comp.length, 20);
    cd.writeUInt32LE(f.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(pos, 42);
    parts.push(local, name, comp);
    central.push(cd, name);
    pos += 30 + name.length + comp.length;
  }
  const cdBuf = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(files.length, 8);
  eocd.writeUInt16LE(files.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(pos, 16);
  return Buffer.concat([...parts, cdBuf, eocd]);
}

test('ZIP64 archives (64-bit sizes and offsets, as large checkpoints use) are read', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const storages: TorchStorage[] = [
    { key: '0', dtype: 'BF16', numel: 3, bytes: Buffer.from([0x80, 0x3f, 0x00, 0xc0, 0x80, 0x7f]) },
  ]; // 1, -2, Inf
  writeFileSync(
    path,
    buildZip(torchSaveFiles(storages, statePickle(storages, [{ name: 'w', key: '0', offset: 0, shape: [3] }])), {
      zip64: true,
    }),
  );
  const f = openPytorchFile(path, 'pytorch_model.bin');
  assert.deepEqual([...f.read('w').data], [1, -2, Infinity]);
  f.close();
});

test('a storage beyond 2 GiB is read in place (sparse 2.5 GiB ZIP64 archive)', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const big = 2.5 * 2 ** 30;
  const storages: TorchStorage[] = [
    { key: '0', dtype: 'U8', numel: big, bytes: Buffer.alloc(0) },
    { key: '1', dtype: 'F32', numel: 2, bytes: f32([0.5, -4]) },
  ];
  const pickle = statePickle(storages, [
    { name: 'filler', key: '0', offset: 0, shape: [big] },
    { name: 'w', key: '1', offset: 0, shape: [2] },
  ]);
  const files = torchSaveFiles(storages, pickle).map((f) =>
    f.name.endsWith('data/0') ? { name: f.name, hole: big } : f,
  );
  writeZip(path, files, { zip64: true });
  const f = openPytorchFile(path, 'pytorch_model.bin');
  assert.deepEqual([...f.read('w').data], [0.5, -4]);
  f.close();
});

test('a pickle asking for os.system is refused by name and never executed', (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'pwned');
  // The classic payload: GLOBAL os system, MARK, 'touch <marker>', TUPLE, REDUCE, STOP.
  const p = new PickleEmitter()
    .bytes(0x80, 2)
    .global('os', 'system')
    .bytes(0x28)
    .str(`touch ${marker}`)
    .bytes(0x74, 0x52, 0x2e)
    .build();
  const path = join(dir, 'pytorch_model.bin');
  writeFileSync(path, buildZip(torchSaveFiles([], p)));
  assert.throws(() => openPytorchFile(path, 'pytorch_model.bin'), isCheckpointError(/refusing to execute os\.system/));
  assert.equal(existsSync(marker), false, 'the command must not have run');
});

test('other ways to reach code are refused too', () => {
  const refusals: [string, Buffer, RegExp][] = [
    [
      'builtins.eval via STACK_GLOBAL',
      Buffer.concat([Buffer.from([0x80, 4]), sbu('builtins'), sbu('eval'), Buffer.from([0x93, 0x2e])]),
      /refusing to execute builtins\.eval/,
    ],
    [
      'posix.system',
      new PickleEmitter().bytes(0x80, 2).global('posix', 'system').bytes(0x2e).build(),
      /refusing to execute posix\.system/,
    ],
    [
      'torch.load itself',
      new PickleEmitter().bytes(0x80, 2).global('torch', 'load').bytes(0x2e).build(),
      /refusing to execute torch\.load/,
    ],
    ['INST opcode', Buffer.from('(ios\nsystem\n.', 'latin1'), /refusing to execute the INST opcode/],
    ['OBJ opcode', Buffer.from([0x80, 2, 0x28, 0x6f, 0x2e]), /refusing to execute the OBJ opcode/],
    [
      'calling a storage class',
      new PickleEmitter().bytes(0x80, 2).global('torch', 'FloatStorage').bytes(0x29, 0x52, 0x2e).build(),
      /refusing to execute torch\.FloatStorage/,
    ],
    [
      'BUILD on a tensor-like object',
      new PickleEmitter().bytes(0x80, 2, 0x29, 0x7d, 0x62, 0x2e).build(),
      /refusing to execute BUILD/,
    ],
  ];
  for (const [what, bytes, pattern] of refusals) {
    assert.throws(() => unpickle(bytes, 'pytorch_model.bin'), isCheckpointError(pattern), what);
  }
  const damaged: [string, Buffer, RegExp][] = [
    ['text-protocol opcode', Buffer.from('I42\n.', 'latin1'), /unsupported opcode 0x49/],
    ['truncated', Buffer.from([0x80, 2, 0x58, 0xff, 0, 0, 0]), /unexpected end of data/],
    ['stack underflow', Buffer.from([0x80, 2, 0x52]), /stack underflow/],
    ['missing memo', Buffer.from([0x80, 2, 0x68, 7, 0x2e]), /memo entry 7/],
    ['no STOP', Buffer.from([0x80, 2, 0x4e]), /unexpected end/],
  ];
  for (const [what, bytes, pattern] of damaged) {
    assert.throws(() => unpickle(bytes, 'pytorch_model.bin'), isCheckpointError(pattern), what);
  }
});

function sbu(s: string): Buffer {
  return Buffer.concat([Buffer.from([0x8c, s.length]), Buffer.from(s)]); // SHORT_BINUNICODE
}

test('plain data and the allowlisted rebuilders unpickle to data', () => {
  const p = new PickleEmitter().bytes(0x80, 2, 0x7d).put(); // {}
  p.str('n').int(-5).bytes(0x73);
  p.str('big')
    .int(2 ** 40)
    .bytes(0x73);
  p.str('t').bytes(0x88, 0x4e, 0x86).put().bytes(0x73); // (True, None)
  p.bytes(0x2e);
  const v = unpickle(p.build(), 'x') as Map<string, unknown>;
  assert.equal(v.get('n'), -5);
  assert.equal(v.get('big'), 2 ** 40);
  assert.deepEqual(v.get('t'), [true, null]);
});

test('damaged or foreign archives are refused with a clear line', (t) => {
  const dir = tempDir(t);
  const cases: [string, Buffer, RegExp][] = [];
  const storages: TorchStorage[] = [{ key: '0', dtype: 'F32', numel: 4, bytes: f32([1, 2, 3, 4]) }];
  const good = statePickle(storages, [{ name: 'w', key: '0', offset: 0, shape: [2, 2] }]);
  cases.push([
    'legacy',
    Buffer.from([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]),
    /legacy \(pre-1\.6\) format/,
  ]);
  cases.push(['not a zip', Buffer.from('hello world, not a checkpoint'), /not a zip archive/]);
  const full = buildZip(torchSaveFiles(storages, good));
  cases.push(['truncated', full.subarray(0, full.length - 30), /end-of-central-directory|truncated/]);
  cases.push(['missing storage', buildZip(torchSaveFiles([], good)), /storage 0, which is missing/]);
  cases.push([
    'short storage',
    buildZip(torchSaveFiles([{ ...storages[0], bytes: f32([1, 2, 3]) }], good)),
    /storage 0 holds 12 bytes but 4 F32 values need 16/,
  ]);
  cases.push([
    'non-contiguous',
    buildZip(
      torchSaveFiles(
        storages,
        statePickle(storages, [{ name: 'wT', key: '0', offset: 0, shape: [2, 2], stride: [1, 2] }]),
      ),
    ),
    /tensor "wT" is not contiguous \(shape \[2, 2\], stride \[1, 2\]\); re-save it with tensor\.contiguous\(\)/,
  ]);
  cases.push([
    'view past the storage',
    buildZip(torchSaveFiles(storages, statePickle(storages, [{ name: 'w', key: '0', offset: 2, shape: [3] }]))),
    /reads elements 2…4 of storage 0, which has 4/,
  ]);
  const big = torchSaveFiles(storages, good).map((f) =>
    f.name.endsWith('byteorder') ? { ...f, data: Buffer.from('big') } : f,
  );
  cases.push(['big-endian', buildZip(big), /big-endian/]);
  const notDict = new PickleEmitter().bytes(0x80, 2, 0x5d, 0x2e).build(); // []
  cases.push(['not a dict', buildZip(torchSaveFiles([], notDict)), /not a dict of tensors/]);
  const nonTensor = new PickleEmitter().bytes(0x80, 2, 0x7d).str('epoch').int(3).bytes(0x73, 0x2e).build();
  cases.push(['non-tensor entry', buildZip(torchSaveFiles([], nonTensor)), /entry "epoch" is not a tensor/]);
  const corrupt = Buffer.from(full);
  corrupt[200] ^= 0xff; // inside data.pkl (which starts at byte 64): the CRC catches it
  cases.push(['crc', corrupt, /CRC/]);
  for (const [what, bytes, pattern] of cases) {
    const path = join(dir, `${what.replace(/\W/g, '_')}.bin`);
    writeFileSync(path, bytes);
    assert.throws(() => openPytorchFile(path, 'pytorch_model.bin').close(), isCheckpointError(pattern), what);
  }
});

test('a needed tensor of a non-float storage is refused when read', (t) => {
  const path = join(tempDir(t), 'pytorch_model.bin');
  const storages: TorchStorage[] = [{ key: '0', dtype: 'I64', numel: 2, bytes: Buffer.alloc(16) }];
  writeFileSync(
    path,
    buildZip(torchSaveFiles(storages, statePickle(storages, [{ name: 'ids', key: '0', offset: 0, shape: [2] }]))),
  );
  const f = openPytorchFile(path, 'pytorch_model.bin');
  assert.equal(f.tensors.get('ids')!.dtype, 'I64');
  assert.throws(() => f.read('ids'), isCheckpointError(/stored as I64/));
  f.close();
});
