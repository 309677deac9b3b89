// A minimal protocol-buffers writer and the few ONNX messages langquant emits.
// Reference: the protobuf wire format (https://protobuf.dev/programming-guides/encoding/) and
// onnx/onnx.proto3 (field numbers of ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto, StringStringEntryProto).
// Only writing is needed: a graph is built in TypeScript and handed to onnxruntime as bytes. The
// weights never pass through here — they are external data (see graph.ts) — so messages are small
// and each nested message is simply encoded into its own buffer before its parent.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

/** A growable byte buffer with the protobuf primitives. */
export class PbWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned or negative (two's complement, 10 bytes) 64-bit varint from a safe integer. */
  varint(n: number): void {
    if (!Number.isSafeInteger(n)) throw new Error(`protobuf varint: ${n} is not a safe integer`);
    if (n < 0) {
      let v = BigInt.asUintN(64, BigInt(n));
      while (v >= 0x80n) {
        this.byte(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.byte(Number(v));
      return;
    }
    // Division rather than bit shifts: shifts truncate to 32 bits.
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** int32/int64/enum/bool field. */
  int(field: number, n: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(n);
  }

  float(field: number, x: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer).setFloat32(this.len, x, true);
    this.len += 4;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: PbWriter): void {
    this.bytes(field, m.finish());
  }

  /** A packed repeated varint field (int64s, int32s). */
  packedInts(field: number, values: readonly number[]): void {
    const inner = new PbWriter();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  /** A packed repeated float field. */
  packedFloats(field: number, values: readonly number[]): void {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    this.bytes(field, b);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX messages (onnx.proto3)

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export interface TensorProtoDef {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: DataTypeCode;
  /** Inline little-endian bytes (small constants). */
  readonly raw?: Uint8Array;
  /** Bytes kept outside the model: a file name known to the session, with offset and length. */
  readonly external?: { readonly location: string; readonly offset: number; readonly length: number };
}

export function encodeTensor(t: TensorProtoDef): PbWriter {
  const w = new PbWriter();
  for (const d of t.dims) w.int(1, d); // dims (repeated int64, unpacked is always accepted)
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.raw) w.bytes(9, t.raw);
  if (t.external) {
    const entry = (k: string, v: string) => {
      const e = new PbWriter();
      e.string(1, k);
      e.string(2, v);
      w.message(13, e);
    };
    entry('location', t.external.location);
    entry('offset', String(t.external.offset));
    entry('length', String(t.external.length));
    w.int(14, 1); // data_location = EXTERNAL
  }
  return w;
}

/** An attribute value, tagged by its ONNX type. */
export type AttrValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly t: TensorProtoDef };

const ATTR_TYPE = { f: 1, i: 2, s: 3, t: 4, floats: 6, ints: 7 } as const;

export function encodeAttribute(name: string, v: AttrValue): PbWriter {
  const w = new PbWriter();
  w.string(1, name);
  if ('i' in v) {
    w.int(3, v.i);
    w.int(20, ATTR_TYPE.i);
  } else if ('f' in v) {
    w.float(2, v.f);
    w.int(20, ATTR_TYPE.f);
  } else if ('s' in v) {
    w.string(4, v.s);
    w.int(20, ATTR_TYPE.s);
  } else if ('ints' in v) {
    for (const x of v.ints) w.int(8, x);
    w.int(20, ATTR_TYPE.ints);
  } else if ('floats' in v) {
    for (const x of v.floats) w.float(7, x);
    w.int(20, ATTR_TYPE.floats);
  } else {
    w.message(5, encodeTensor(v.t));
    w.int(20, ATTR_TYPE.t);
  }
  return w;
}

export interface NodeDef {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, AttrValue>>;
}

export function encodeNode(n: NodeDef): PbWriter {
  const w = new PbWriter();
  for (const x of n.inputs) w.string(1, x);
  for (const x of n.outputs) w.string(2, x);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, encodeAttribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

export interface ValueInfoDef {
  readonly name: string;
  readonly elemType: DataTypeCode;
  /** A number is a fixed size, a string a symbolic one. */
  readonly dims: readonly (number | string)[];
}

export function encodeValueInfo(v: ValueInfoDef): PbWriter {
  const shape = new PbWriter();
  for (const d of v.dims) {
    const dim = new PbWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new PbWriter();
  tensorType.int(1, v.elemType);
  tensorType.message(2, shape);
  const type = new PbWriter();
  type.message(1, tensorType);
  const w = new PbWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

export interface ModelDef {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
  readonly graphName: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorProtoDef[];
  readonly inputs: readonly ValueInfoDef[];
  readonly outputs: readonly ValueInfoDef[];
}

export function encodeModel(m: ModelDef): Uint8Array {
  const g = new PbWriter();
  for (const n of m.nodes) g.message(1, encodeNode(n));
  g.string(2, m.graphName);
  for (const t of m.initializers) g.message(5, encodeTensor(t));
  for (const v of m.inputs) g.message(11, encodeValueInfo(v));
  for (const v of m.outputs) g.message(12, encodeValueInfo(v));
  const w = new PbWriter();
  w.int(1, m.irVersion);
  w.string(2, m.producer);
  w.message(7, g);
  for (const o of m.opsets) {
    const os = new PbWriter();
    if (o.domain) os.string(1, o.domain);
    os.int(2, o.version);
    w.message(8, os);
  }
  return w.finish();
}
