// Builds checkpoint fixtures in temporary folders from the golden models: raw safetensors files
// (including deliberately broken ones), shard indexes, and pytorch_model.bin files laid out exactly
// as torch.save (PyTorch ≥ 1.6 zip serialization, pickle protocol 2) writes them:
//
//   archive/data.pkl             pickle of OrderedDict{name: _rebuild_tensor_v2(...)} with the
//                                state dict's `_metadata` attached by BUILD (as model.state_dict() has)
//   archive/byteorder            "little"
//   archive/data/0 … data/N-1    raw little-endian storage bytes, one entry per storage key
//   archive/version              "3\n"
//   archive/.data/serialization_id
//
// Every entry is stored (method 0, no compression); the local header's extra field is padded (id
// "FB", as PyTorch's writer does) so each entry's data starts on a 64-byte boundary. Each tensor
// pickles as  GLOBAL torch._utils _rebuild_tensor_v2, MARK, MARK 'storage' GLOBAL torch FloatStorage
// key 'cpu' numel TUPLE BINPERSID, offset, size-tuple, stride-tuple, False, OrderedDict(), TUPLE, REDUCE.

import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { readSafetensors } from '../../src/model/checkpoint/safetensors.ts';
import { crc32 } from '../../src/model/checkpoint/zip.ts';
import { DTYPE_BYTES, encodeInto, type DType } from '../../src/tensor/dtype.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { GOLDEN } from './cli.ts';

/** A fresh temporary folder, removed after the test. */
export function tempDir(t: TestContext, tag = 'ckpt'): string {
  const dir = mkdtempSync(join(tmpdir(), `langquant-${tag}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function goldenDir(name: string): string {
  return join(GOLDEN, 'models', name);
}

/** The golden model's config.json, optionally patched, written into `dir`. */
export function copyConfig(name: string, dir: string, patch: Record<string, unknown> = {}): void {
  const raw = JSON.parse(readFileSync(join(goldenDir(name), 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, ...patch }, null, 2));
}

/** A copy of the golden model folder (config.json + model.safetensors). */
export function copyGolden(name: string, dir: string): void {
  copyFileSync(join(goldenDir(name), 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(goldenDir(name), 'model.safetensors'), join(dir, 'model.safetensors'));
}

/** The golden model's tensors, by their names in the file (float32). */
export function goldenWeights(name: string): Map<string, Tensor> {
  return readSafetensors(join(goldenDir(name), 'model.safetensors'));
}

export function encode(t: Tensor, dtype: DType): Buffer {
  const b = Buffer.alloc(t.data.length * DTYPE_BYTES[dtype]);
  encodeInto(b, t.data, dtype);
  return b;
}

export interface RawEntry {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Buffer;
}

/**
 * A safetensors file built byte by byte, so tests can make it lie: `header` overrides (or extends)
 * the honest header, `lengthField` replaces the u64 header length, `truncate` drops trailing bytes.
 */
export function rawSafetensors(
  path: string,
  entries: RawEntry[],
  opts: {
    header?: (h: Record<string, unknown>) => Record<string, unknown> | string;
    lengthField?: bigint;
    truncate?: number;
    trailing?: number;
  } = {},
): void {
  const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const e of entries) {
    h[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  const patched = opts.header ? opts.header(h) : h;
  const json = Buffer.from(typeof patched === 'string' ? patched : JSON.stringify(patched), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lengthField ?? BigInt(json.length));
  let file = Buffer.concat([len, json, ...entries.map((e) => e.bytes), Buffer.alloc(opts.trailing ?? 0)]);
  if (opts.truncate) file = file.subarray(0, file.length - opts.truncate);
  writeFileSync(path, file);
}

/** The golden tensors as RawEntries, optionally renamed, in `dtype`. */
export function rawEntries(
  weights: Map<string, Tensor>,
  dtype: DType = 'F32',
  rename: (n: string) => string = (n) => n,
): RawEntry[] {
  return [...weights].map(([n, t]) => ({ name: rename(n), dtype, shape: [...t.shape], bytes: encode(t, dtype) }));
}

// ---------------------------------------------------------------------------------------------
// torch.save replica

const STORAGE_CLASS: Record<string, string> = {
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  BOOL: 'BoolStorage',
  U8: 'ByteStorage',
  I64: 'LongStorage',
};

export interface TorchStorage {
  key: string;
  dtype: string; // F32 | F16 | BF16 | BOOL | U8 | I64
  numel: number;
  bytes: Buffer;
}

export interface TorchView {
  name: string;
  key: string;
  offset: number;
  shape: number[];
  stride?: number[];
}

function contiguousStride(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** Emits pickle opcodes the way Python's pickle.Pickler (protocol 2) does for these objects. */
export class PickleEmitter {
  private readonly parts: Buffer[] = [];
  private readonly memo = new Map<string, number>();
  private next = 0;

  bytes(...b: number[]): this {
    this.parts.push(Buffer.from(b));
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  /** BINPUT / LONG_BINPUT of the object just pushed; `key` lets later uses BINGET it. */
  put(key?: string): this {
    const n = this.next++;
    if (key !== undefined) this.memo.set(key, n);
    if (n < 256) return this.bytes(0x71, n);
    const b = Buffer.alloc(5);
    b[0] = 0x72;
    b.writeUInt32LE(n, 1);
    return this.raw(b);
  }
  private get(key: string): boolean {
    const n = this.memo.get(key);
    if (n === undefined) return false;
    if (n < 256) this.bytes(0x68, n);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x6a;
      b.writeUInt32LE(n, 1);
      this.raw(b);
    }
    return true;
  }
  global(module: string, name: string): this {
    if (this.get(`g:${module}.${name}`)) return this;
    this.raw(Buffer.from(`c${module}\n${name}\n`, 'utf8'));
    return this.put(`g:${module}.${name}`);
  }
  str(s: string, memoize = true): this {
    if (memoize && this.get(`s:${s}`)) return this;
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.raw(h).raw(b);
    return memoize ? this.put(`s:${s}`) : this.put();
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.bytes(0x4b, n);
    if (n >= 0 && n < 65536) return this.bytes(0x4d, n & 0xff, n >> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(n, 1);
      return this.raw(b);
    }
    // LONG1 with 8 bytes (Python uses the minimal two's-complement length; 8 is as valid)
    const b = Buffer.alloc(10);
    b[0] = 0x8a;
    b[1] = 8;
    b.writeBigInt64LE(BigInt(n), 2);
    return this.raw(b);
  }
  intTuple(xs: number[]): this {
    if (xs.length === 0) return this.bytes(0x29);
    if (xs.length <= 3) {
      for (const x of xs) this.int(x);
      return this.bytes(0x84 + xs.length).put(); // TUPLE1/2/3
    }
    this.bytes(0x28);
    for (const x of xs) this.int(x);
    return this.bytes(0x74).put();
  }
  emptyOrderedDict(): this {
    return this.global('collections', 'OrderedDict').bytes(0x29, 0x52).put(); // () REDUCE
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** data.pkl of a state dict: OrderedDict of views over storages, plus `_metadata` via BUILD. */
export function statePickle(storages: TorchStorage[], views: TorchView[]): Buffer {
  const byKey = new Map(storages.map((s) => [s.key, s]));
  const p = new PickleEmitter();
  p.bytes(0x80, 2); // PROTO 2
  p.emptyOrderedDict();
  const items = views;
  // Python batches SETITEMS by 1000 items; one item alone is a bare SETITEM.
  for (let i = 0; i < items.length; i += 1000) {
    const batch = items.slice(i, i + 1000);
    if (batch.length > 1) p.bytes(0x28); // MARK
    for (const v of batch) {
      const st = byKey.get(v.key)!;
      p.str(v.name, false);
      p.global('torch._utils', '_rebuild_tensor_v2');
      p.bytes(0x28); // MARK (args of _rebuild_tensor_v2)
      p.bytes(0x28); // MARK (persistent id)
      p.str('storage');
      p.global('torch', STORAGE_CLASS[st.dtype]);
      p.str(st.key, false);
      p.str('cpu');
      p.int(st.numel);
      p.bytes(0x74).put(); // TUPLE
      p.bytes(0x51); // BINPERSID
      p.int(v.offset);
      p.intTuple(v.shape);
      p.intTuple(v.stride ?? contiguousStride(v.shape));
      p.bytes(0x89); // NEWFALSE: requires_grad
      p.emptyOrderedDict(); // backward_hooks
      p.bytes(0x74).put(); // TUPLE
      p.bytes(0x52).put(); // REDUCE
    }
    p.bytes(batch.length > 1 ? 0x75 : 0x73); // SETITEMS / SETITEM
  }
  // state = {'_metadata': OrderedDict([('', {'version': 1})])}, then BUILD
  p.bytes(0x7d).put(); // EMPTY_DICT
  p.str('_metadata');
  p.emptyOrderedDict();
  p.str('');
  p.bytes(0x7d).put();
  p.str('version');
  p.int(1);
  p.bytes(0x73); // SETITEM into {'version': 1}
  p.bytes(0x73); // SETITEM into the OrderedDict
  p.bytes(0x73); // SETITEM into the state dict
  p.bytes(0x62); // BUILD
  p.bytes(0x2e); // STOP
  return p.build();
}

export interface ZipFileSpec {
  name: string;
  data: Buffer;
}

/**
 * An entry of `hole` zero bytes, written as a sparse hole (no memory, no disk). Its CRC is left 0:
 * langquant checks the CRC of data.pkl but not of storages, which it reads in place.
 */
export interface ZipHoleSpec {
  name: string;
  hole: number;
}

export interface ZipOptions {
  /** Write ZIP64 records (sizes and offsets in 64-bit extra fields, ZIP64 end record), as large archives use. */
  zip64?: boolean;
}

/** The pieces of a zip (position → bytes) and its total size; stored entries, data 64-byte aligned. */
function zipLayout(
  files: (ZipFileSpec | ZipHoleSpec)[],
  opts: ZipOptions,
): { pieces: [number, Buffer][]; size: number } {
  const pieces: [number, Buffer][] = [];
  const central: Buffer[] = [];
  const z64 = opts.zip64 ?? false;
  const u32 = (v: number) => (z64 ? 0xffffffff : v);
  let pos = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const size = 'data' in f ? f.data.length : f.hole;
    const crc = 'data' in f ? crc32(f.data) : 0;
    // ZIP64 extra field in the local header: uncompressed and compressed size.
    const local64 = Buffer.alloc(z64 ? 20 : 0);
    if (z64) {
      local64.writeUInt16LE(0x0001, 0);
      local64.writeUInt16LE(16, 2);
      local64.writeBigUInt64LE(BigInt(size), 4);
      local64.writeBigUInt64LE(BigInt(size), 12);
    }
    // Extra field "FB" + u16 length + padding, so that the data starts at a multiple of 64.
    const before = pos + 30 + name.length + local64.length + 4;
    const pad = (64 - (before % 64)) % 64;
    const fb = Buffer.alloc(4 + pad);
    fb.write('FB', 0, 'latin1');
    fb.writeUInt16LE(pad, 2);
    const extra = Buffer.concat([local64, fb]);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(z64 ? 45 : 20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(u32(size), 18);
    local.writeUInt32LE(u32(size), 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const cd64 = Buffer.alloc(z64 ? 28 : 0);
    if (z64) {
      cd64.writeUInt16LE(0x0001, 0);
      cd64.writeUInt16LE(24, 2);
      cd64.writeBigUInt64LE(BigInt(size), 4);
      cd64.writeBigUInt64LE(BigInt(size), 12);
      cd64.writeBigUInt64LE(BigInt(pos), 20);
    }
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(z64 ? 45 : 20, 4);
    cd.writeUInt16LE(z64 ? 45 : 20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(u32(size), 20);
    cd.writeUInt32LE(u32(size), 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(cd64.length, 30);
    cd.writeUInt32LE(u32(pos), 42);
    central.push(cd, name, cd64);
    const header = Buffer.concat([local, name, extra]);
    pieces.push([pos, header]);
    if ('data' in f) pieces.push([pos + header.length, f.data]);
    pos += header.length + size;
  }
  const cdBuf = Buffer.concat(central);
  const cdOffset = pos;
  pieces.push([pos, cdBuf]);
  pos += cdBuf.length;
  if (z64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4); // size of the rest of the record
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(files.length), 24);
    rec.writeBigUInt64LE(BigInt(files.length), 32);
    rec.writeBigUInt64LE(BigInt(cdBuf.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(pos), 8);
    loc.writeUInt32LE(1, 16);
    pieces.push([pos, rec], [pos + 56, loc]);
    pos += 76;
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(z64 ? 0xffff : files.length, 8);
  eocd.writeUInt16LE(z64 ? 0xffff : files.length, 10);
  eocd.writeUInt32LE(u32(cdBuf.length), 12);
  eocd.writeUInt32LE(u32(cdOffset), 16);
  pieces.push([pos, eocd]);
  return { pieces, size: pos + 22 };
}

/** A zip of stored entries in memory, each entry's data 64-byte aligned, as PyTorch's writer lays them out. */
export function buildZip(files: ZipFileSpec[], opts: ZipOptions = {}): Buffer {
  const { pieces, size } = zipLayout(files, opts);
  const out = Buffer.alloc(size);
  for (const [at, b] of pieces) b.copy(out, at);
  return out;
}

/** The same zip written to `path` with positioned writes; hole entries stay sparse. */
export function writeZip(path: string, files: (ZipFileSpec | ZipHoleSpec)[], opts: ZipOptions = {}): void {
  const { pieces, size } = zipLayout(files, opts);
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [at, b] of pieces) writeSync(fd, b, 0, b.length, at);
  } finally {
    closeSync(fd);
  }
}

/** The archive entries torch.save writes for these storages, with `pickle` as data.pkl. */
export function torchSaveFiles(storages: TorchStorage[], pickle: Buffer, prefix = 'archive'): ZipFileSpec[] {
  // Order as torch.save writes them: data.pkl, byteorder, the storages, then version and the id.
  return [
    { name: `${prefix}/data.pkl`, data: pickle },
    { name: `${prefix}/byteorder`, data: Buffer.from('little') },
    ...storages.map((s) => ({ name: `${prefix}/data/${s.key}`, data: s.bytes })),
    { name: `${prefix}/version`, data: Buffer.from('3\n') },
    { name: `${prefix}/.data/serialization_id`, data: Buffer.from('1234567890123456789012345678901234567890') },
  ];
}

/** Writes a pytorch_model.bin holding `tensors`, one storage each, in `dtype`. */
export function writeTorchSave(
  path: string,
  tensors: Map<string, Tensor>,
  dtype: DType = 'F32',
  extra: { storages?: TorchStorage[]; views?: TorchView[] } = {},
): void {
  const storages: TorchStorage[] = [];
  const views: TorchView[] = [];
  let k = 0;
  for (const [name, t] of tensors) {
    const key = String(k++);
    storages.push({ key, dtype, numel: t.data.length, bytes: encode(t, dtype) });
    views.push({ name, key, offset: 0, shape: [...t.shape] });
  }
  storages.push(...(extra.storages ?? []));
  views.push(...(extra.views ?? []));
  writeFileSync(path, buildZip(torchSaveFiles(storages, statePickle(storages, views))));
}
