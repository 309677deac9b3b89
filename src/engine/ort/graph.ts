// A small builder for ONNX graphs: nodes with generated value names, weights as external
// initialisers that point at langquant's own Float32Arrays, and small inline constants.
// Reference: ONNX IR spec (https://onnx.ai/onnx/repo-docs/IR.html), external data
// (https://onnx.ai/onnx/repo-docs/ExternalData.html), and onnxruntime-node's
// `sessionOptions.externalData` ([{ path, data }]), which hands in-memory "files" to
// OrtApi::AddExternalInitializersFromFilesInMemory — so the model protobuf holds no weight bytes
// and the weights are never copied into an intermediate buffer in JavaScript.

import type { Tensor } from '../../tensor/tensor.ts';
import {
  DataType,
  encodeModel,
  type AttrValue,
  type DataTypeCode,
  type NodeDef,
  type TensorProtoDef,
  type ValueInfoDef,
} from './proto.ts';

/** ONNX default-domain opset used by every graph (LayerNormalization needs ≥ 17, Gelu ≥ 20). */
export const OPSET = 20;
/** IR version that goes with opset 20. */
export const IR_VERSION = 9;
export const MS_DOMAIN = 'com.microsoft';

export interface ExternalFile {
  readonly path: string;
  readonly data: Uint8Array;
}

/** A weight fed to the session as a graph input on every run (zero-copy; see WeightMode). */
export interface WeightFeed {
  readonly name: string;
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface EncodedGraph {
  readonly model: Uint8Array;
  /** In-memory external data for weights held as initialisers. */
  readonly externalData: ExternalFile[];
  /** Weights passed as inputs, to be fed with every run. */
  readonly weightFeeds: WeightFeed[];
}

/**
 * How weights reach onnxruntime. `initializers`: external data that the session copies (and may
 * pre-pack) once — one more copy of the weights in memory. `inputs`: graph inputs fed on every run
 * with tensors that wrap langquant's own Float32Arrays — no copy at all; the matmul kernels pack
 * each weight panel as they go, which costs a few per cent on long windows.
 */
export type WeightMode = 'initializers' | 'inputs';

function le(values: ArrayLike<number>, type: DataTypeCode): Uint8Array {
  const n = values.length;
  if (type === DataType.FLOAT) return new Uint8Array(Float32Array.from(values).buffer);
  if (type === DataType.INT64) {
    const b = new BigInt64Array(n);
    for (let i = 0; i < n; i++) b[i] = BigInt(values[i]);
    return new Uint8Array(b.buffer);
  }
  if (type === DataType.INT32) return new Uint8Array(Int32Array.from(values).buffer);
  throw new Error(`graph: inline constants of type ${type} are not supported`);
}

export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly inits: TensorProtoDef[] = [];
  private readonly inputs: ValueInfoDef[] = [];
  private readonly outputs: ValueInfoDef[] = [];
  private readonly files: ExternalFile[] = [];
  private readonly feeds: WeightFeed[] = [];
  /** Tied weights are one Tensor object under two names: one initialiser serves both. */
  private readonly byTensor = new Map<Tensor, string>();
  private readonly constCache = new Map<string, string>();
  private readonly used = new Set<string>();
  private counter = 0;
  private usesMs = false;

  constructor(
    private readonly name: string,
    private readonly weightMode: WeightMode = 'initializers',
  ) {}

  /** A fresh value name from a readable hint. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_.]/g, '_');
    let n = base;
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: DataTypeCode, dims: (number | string)[]): string {
    this.used.add(name);
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  /** Declares `value` a graph output under `name` (through an Identity when the names differ). */
  output(value: string, name: string, elemType: DataTypeCode, dims: (number | string)[]): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name], name: `out_${name}` });
    this.used.add(name);
    this.outputs.push({ name, elemType, dims });
  }

  /**
   * A model weight, as an initialiser or a graph input (WeightMode). Its bytes stay in the tensor's
   * own Float32Array; the same Tensor object gives the same value name (tied weights).
   */
  weight(t: Tensor, hint: string): string {
    const seen = this.byTensor.get(t);
    if (seen) return seen;
    const name = this.fresh(hint);
    this.byTensor.set(t, name);
    if (this.weightMode === 'inputs') {
      this.inputs.push({ name, elemType: DataType.FLOAT, dims: t.shape });
      this.feeds.push({ name, data: t.data, dims: t.shape });
      return name;
    }
    const path = `w${this.files.length}.bin`;
    const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    this.files.push({ path, data });
    this.inits.push({
      name,
      dims: t.shape,
      dataType: DataType.FLOAT,
      external: { location: path, offset: 0, length: data.byteLength },
    });
    return name;
  }

  /** A small constant stored inline in the model (deduplicated by value). */
  constant(
    values: ArrayLike<number>,
    dims: readonly number[],
    type: DataTypeCode = DataType.FLOAT,
    hint = 'const',
  ): string {
    const key = `${type}|${dims.join(',')}|${Array.from(values).join(',')}`;
    const seen = key.length < 4096 ? this.constCache.get(key) : undefined;
    if (seen) return seen;
    const name = this.fresh(hint);
    this.inits.push({ name, dims, dataType: type, raw: le(values, type) });
    if (key.length < 4096) this.constCache.set(key, name);
    return name;
  }

  i64(values: readonly number[], hint = 'i64'): string {
    return this.constant(values, [values.length], DataType.INT64, hint);
  }

  scalarF(x: number, hint = 'scalar'): string {
    return this.constant([x], [], DataType.FLOAT, hint);
  }

  /** Adds a node with `nOut` outputs and returns their names. */
  nodeN(opType: string, inputs: string[], nOut: number, attrs?: Record<string, AttrValue>, domain?: string): string[] {
    const outputs = Array.from({ length: nOut }, (_, i) => this.fresh(`${opType}${nOut > 1 ? `_o${i}` : ''}`));
    if (domain === MS_DOMAIN) this.usesMs = true;
    this.nodes.push({ opType, inputs, outputs, name: `n${this.nodes.length}_${opType}`, attrs, domain });
    return outputs;
  }

  /** Adds a single-output node and returns its output name. */
  node(opType: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string {
    return this.nodeN(opType, inputs, 1, attrs, domain)[0];
  }

  /**
   * Encodes the graph. With `prune`, nodes, inputs, weights and constants that no output depends on
   * are left out (block-range graphs: what comes before the first block they run is dead). With
   * `canonical`, every name but the graph's own inputs and outputs is replaced by one made from its
   * position (weights w0, w1, … in order of first use, constants c0, …, values v0, …, nodes n0_Op, …;
   * the graph is named after the builder's prefix): two graphs of the same structure then encode to
   * the same bytes, so one session can run both with each one's weights as feeds. Only with WeightMode
   * 'inputs': initialisers would share the bytes without sharing their contents (blocks.ts shares
   * sessions only then).
   */
  encode(opts: { prune?: boolean; canonical?: boolean } = {}): EncodedGraph {
    const opsets = [{ domain: '', version: OPSET }];
    if (this.usesMs) opsets.push({ domain: MS_DOMAIN, version: 1 });
    let nodes = this.nodes;
    let inits = this.inits;
    let inputs = this.inputs;
    let files = this.files;
    let feeds = this.feeds;
    if (opts.prune) {
      const live = new Set(this.outputs.map((o) => o.name));
      const kept: NodeDef[] = [];
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const n = this.nodes[i];
        if (!n.outputs.some((o) => live.has(o))) continue;
        kept.push(n);
        for (const x of n.inputs) if (x) live.add(x);
      }
      nodes = kept.reverse();
      inits = this.inits.filter((t) => live.has(t.name));
      inputs = this.inputs.filter((t) => live.has(t.name));
      feeds = this.feeds.filter((f) => live.has(f.name));
      const paths = new Set(inits.map((t) => t.external?.location).filter((x) => x !== undefined));
      files = this.files.filter((f) => paths.has(f.path));
    }
    let graphName = this.name;
    if (opts.canonical) {
      const c = canonicalNames({ nodes, inits, inputs, outputs: this.outputs, feeds });
      ({ nodes, inits, inputs, feeds } = c);
      graphName = 'canonical';
    }
    const model = encodeModel({
      irVersion: IR_VERSION,
      opsets,
      producer: 'langquant',
      graphName,
      nodes,
      initializers: inits,
      inputs,
      outputs: this.outputs,
    });
    return { model, externalData: [...files], weightFeeds: [...feeds] };
  }
}

/** The parts of a graph `canonicalNames` renames. */
interface GraphParts {
  nodes: NodeDef[];
  inits: TensorProtoDef[];
  inputs: ValueInfoDef[];
  readonly outputs: readonly ValueInfoDef[];
  feeds: WeightFeed[];
}

/**
 * Positional names for a graph's weights (w·), constants (c·), values (v·) and nodes (n·_Op); the
 * inputs that are not weights and the outputs keep theirs (they are the graph's interface).
 */
function canonicalNames(g: GraphParts): GraphParts {
  const rename = new Map<string, string>();
  const feedNames = new Set(g.feeds.map((f) => f.name));
  let w = 0;
  for (const i of g.inputs) if (feedNames.has(i.name)) rename.set(i.name, `w${w++}`);
  g.inits.forEach((t, k) => rename.set(t.name, `c${k}`));
  const keep = new Set(g.outputs.map((o) => o.name));
  let v = 0;
  for (const n of g.nodes) for (const o of n.outputs) if (!keep.has(o) && !rename.has(o)) rename.set(o, `v${v++}`);
  const r = (x: string) => (x === '' ? x : (rename.get(x) ?? x));
  return {
    nodes: g.nodes.map((n, k) => ({
      ...n,
      name: `n${k}_${n.opType}`,
      inputs: n.inputs.map(r),
      outputs: n.outputs.map(r),
    })),
    inits: g.inits.map((t) => ({ ...t, name: r(t.name) })),
    inputs: g.inputs.map((i) => ({ ...i, name: r(i.name) })),
    outputs: g.outputs,
    feeds: g.feeds.map((f) => ({ ...f, name: r(f.name) })),
  };
}
